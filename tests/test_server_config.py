"""SuricataConfig set in the server config and on the command line reaches the REST API:
``max_capture_size`` (POST /runs refuses a larger capture with 400 naming the limit) and
``suricata_path`` (a missing binary: status says so, POST /runs answers 503)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("server_helpers")

from server_helpers import (  # noqa: E402
    ENDPOINTS,
    assert_error,
    body,
    call,
    check_openapi,
    needs_suricata,
    one_sentence,
    wait_for,
)

pytest_plugins = ("pytest_jupyter.jupyter_server", "server_helpers")

LIMIT = 1000
MISSING = "/nonexistent/bin/suricata"


def both_ways(section: str, name: str, value: Any) -> Any:
    """Parametrize ``sauce_settings`` / ``jp_argv``: the setting in the config, or as
    ``--Section.name=value`` on the server's command line."""
    return pytest.mark.parametrize(
        ("sauce_settings", "jp_argv"),
        [({section: {name: value}}, []), ({}, [f"--{section}.{name}={value}"])],
        ids=["server-config", "command-line"],
    )


async def post_run(jp_fetch: Any, path: str) -> Any:
    response = await call(jp_fetch, "POST", "runs", body=json.dumps({"path": path}))
    check_openapi("POST", "/runs", response)
    return response


@needs_suricata
@both_ways("SuricataConfig", "max_capture_size", LIMIT)
async def test_max_capture_size(
    jp_fetch: Any, jp_root_dir: Path, demo_capture: Path, sauce_app: Any
) -> None:
    assert sauce_app.sauce.suricata_config.max_capture_size == LIMIT
    size = demo_capture.stat().st_size
    assert size > LIMIT
    error = assert_error(await post_run(jp_fetch, "cases/demo.pcap"), 400, "CaptureError", "path")
    assert f"{LIMIT} bytes" in error["message"] and "max_capture_size" in error["message"]
    assert str(size) in error["message"] and one_sentence(error["message"]), error
    assert sauce_app.manager.list() == []
    # a capture under the limit (a pcap header, no packets) is analysed
    (jp_root_dir / "small.pcap").write_bytes(demo_capture.read_bytes()[:24])
    small = await post_run(jp_fetch, "small.pcap")
    assert small.code == 202
    done = await wait_for(jp_fetch, body(small)["id"])
    assert done["state"] == "done" and done["counts"]["alerts"] == 0, done


@both_ways("SuricataConfig", "suricata_path", MISSING)
async def test_missing_suricata_binary(jp_fetch: Any, demo_capture: Path, sauce_app: Any) -> None:
    assert sauce_app.sauce.suricata_config.suricata_path == MISSING
    response = await call(jp_fetch, "GET", "status")
    check_openapi("GET", "/status", response)
    suricata = body(response)["suricata"]
    assert suricata["available"] is False
    assert suricata["version"] is None and suricata["binary"] is None
    assert "SuricataConfig.suricata_path" in suricata["message"]
    assert one_sentence(suricata["message"]), suricata["message"]
    error = assert_error(await post_run(jp_fetch, "cases/demo.pcap"), 503, "SuricataUnavailable")
    assert error["message"] == suricata["message"]
    assert sauce_app.manager.list() == [] and sauce_app.manager.analyses_started == 0
    # the rest of the API still answers
    assert (await call(jp_fetch, "GET", "captures")).code == 200


STORE_PROBLEM = (
    "The case store folder '/dev/null/store' (StoreConfig.store_dir) cannot be created: "
    "Not a directory."
)
EVERY_CALL = [e for e in ENDPOINTS if e[1] not in ("/status", "/openapi.json")]


@pytest.mark.parametrize(
    "sauce_settings",
    [{"StoreConfig": {"store_dir": "/dev/null/store"}, "SauceApp": {"allow_upload": True}}],
)
async def test_unusable_store_answers_every_call_with_the_setting(
    jp_fetch: Any, jp_root_dir: Path, demo_capture: Path, sauce_app: Any
) -> None:
    """Bug: the extension failed to load (a traceback in the log) and every sauce/api URL
    answered Jupyter's HTML 404."""
    assert sauce_app.sauce is None and sauce_app.manager is None  # loaded, without a pipeline
    for method, template, parts, data in EVERY_CALL:
        kwargs = {} if data is None else {"body": data}
        response = await call(jp_fetch, method, *parts, **kwargs)
        check_openapi(method, template, response)
        error = assert_error(response, 500, "StoreError", None)
        assert (error["message"], error["field"]) == (STORE_PROBLEM, None), template
        assert response.headers["Content-Type"].startswith("application/json")
    assert not (jp_root_dir / "uploads").exists()
    # status reports the problem and what it can tell besides
    response = await call(jp_fetch, "GET", "status")
    check_openapi("GET", "/status", response)
    status = body(response)
    assert status["error"] == {
        "status": 500,
        "code": "StoreError",
        "message": STORE_PROBLEM,
        "field": None,
    }
    assert status["ruleset"] == {"error": STORE_PROBLEM}
    suricata = status["suricata"]
    assert suricata["home_net"] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    assert suricata["home_net_error"] is None
    if shutil.which("suricata"):
        assert suricata["available"] is True and suricata["version"].startswith("7.")
    assert status["engine"] == {"warm": False, "enabled": True}
    assert status["virustotal"] == {
        "mode": "offline",
        "key_problem": None,
        "quota_used_today": None,
        "quota_limit": 500,
    }
    assert status["runs"] == {"queued": 0, "running": 0, "done": 0, "failed": 0, "cancelled": 0}
    assert status["upload"] == {"enabled": True, "max_size": sauce_app.max_upload_size}
    assert (await call(jp_fetch, "GET", "openapi.json")).code == 200
    assert_error(await call(jp_fetch, "GET", "no", "such", "endpoint"), 404, "NotFound")


HOME_NET_PROBLEM = (
    "HOME_NET: 'banana' is not a valid address or CIDR range (SuricataConfig.home_net)."
)


@needs_suricata
@both_ways("SuricataConfig", "home_net", "banana")
async def test_bad_configured_home_net_is_reported_in_status(
    jp_fetch: Any, demo_capture: Path, sauce_app: Any
) -> None:
    """Bug: GET status answered 400 RangeError for a server setting."""
    response = await call(jp_fetch, "GET", "status")
    check_openapi("GET", "/status", response)
    assert response.code == 200
    status = body(response)
    assert status["error"] is None
    assert status["suricata"]["home_net"] == []
    assert status["suricata"]["home_net_error"] == HOME_NET_PROBLEM
    assert one_sentence(HOME_NET_PROBLEM)
    # a run with the default HOME_NET cannot start: the server's setting is named
    error = assert_error(await post_run(jp_fetch, "cases/demo.pcap"), 500, "SettingError")
    assert (error["message"], error["field"]) == (HOME_NET_PROBLEM, None)
    # one that gives its own HOME_NET can
    response = await call(
        jp_fetch,
        "POST",
        "runs",
        body=json.dumps({"path": "cases/demo.pcap", "home_net": "10.42.0.0/16"}),
    )
    assert response.code == 202, response.body
    done = await wait_for(jp_fetch, body(response)["id"])
    assert done["state"] == "done" and done["home_net"] == ["10.42.0.0/16"]


@needs_suricata
@pytest.mark.parametrize("sauce_settings", [{"RulesConfig": {"rules": "/nonexistent/rules"}}])
async def test_unusable_default_rules_refuse_runs_naming_the_setting(
    jp_fetch: Any, demo_capture: Path, sauce_app: Any
) -> None:
    """Runs share by ruleset content, so POST /runs reads the rules at once: the configured
    default that cannot be read is a server setting at fault (500), named; the request's
    own rules still work."""
    problem = "Rules path '/nonexistent/rules' does not exist (RulesConfig.rules)."
    status = body(await call(jp_fetch, "GET", "status"))
    assert status["ruleset"] == {"error": "Rules path '/nonexistent/rules' does not exist."}
    error = assert_error(await post_run(jp_fetch, "cases/demo.pcap"), 500, "SettingError")
    assert (error["message"], error["field"]) == (problem, None)
    assert sauce_app.manager.list() == []
    response = await call(
        jp_fetch, "POST", "runs", body=json.dumps({"path": "cases/demo.pcap", "rules": "starter"})
    )
    assert response.code == 202, response.body
    assert (await wait_for(jp_fetch, body(response)["id"]))["state"] == "done"
