"""SuricataConfig set in the server config and on the command line reaches the REST API:
``max_capture_size`` (POST /runs refuses a larger capture with 400 naming the limit) and
``suricata_path`` (a missing binary: status says so, POST /runs answers 503)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("server_helpers")

from server_helpers import (  # noqa: E402
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
