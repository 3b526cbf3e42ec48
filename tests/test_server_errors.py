"""Failures with a real server: runs that fail (state, code, one sentence) and an
Authorizer that denies resource "sauce" (403 from every endpoint, one error shape)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth import Authorizer

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
pytestmark = needs_suricata


async def failed_run(jp_fetch: Any, path: str) -> dict[str, Any]:
    started = await call(jp_fetch, "POST", "runs", body=json.dumps({"path": path}))
    check_openapi("POST", "/runs", started)
    assert started.code == 202, started.body
    run_id = body(started)["id"]
    final = await wait_for(jp_fetch, run_id, timeout=90)
    response = await call(jp_fetch, "GET", "runs", run_id)
    check_openapi("GET", "/runs/{run_id}", response)
    assert final["state"] == "failed", final
    error = final["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert one_sentence(error["message"]), error["message"]
    assert final["counts"] is None and final["finished"] is not None
    # no result tables for a failed run: 409 in the one error shape
    results = await call(jp_fetch, "GET", "runs", run_id, "alerts")
    check_openapi("GET", "/runs/{run_id}/{table}", results)
    error = assert_error(results, 409, "RunNotDone", None)
    assert error["message"] == "The run failed; it has no results." and error["field"] is None
    return final


async def test_runs_that_fail(
    jp_fetch: Any, jp_root_dir: Path, demo_capture: Path, sauce_app: Any
) -> None:
    (jp_root_dir / "notes.pcap").write_text("hello, this is a text file, not a capture\n")
    text = await failed_run(jp_fetch, "notes.pcap")
    assert text["error"]["code"] == "CaptureError"
    assert "'notes.pcap'" in text["error"]["message"] and "text file" in text["error"]["message"]

    # a real capture's header and the first 6 bytes of its first record: libpcap, and so
    # Suricata, refuses it
    (jp_root_dir / "cut.pcap").write_bytes(demo_capture.read_bytes()[:30])
    cut = await failed_run(jp_fetch, "cut.pcap")
    assert cut["error"]["code"] == "CaptureError"
    assert cut["error"]["message"].startswith("Suricata cannot open the capture 'cut.pcap'")
    for run in (text, cut):
        assert str(jp_root_dir) not in run["error"]["message"]
    store = sauce_app.sauce.store
    assert store.keys() == [] and list((store.root / "tmp").iterdir()) == []
    # the server is still fine: a good capture analyses
    ok = body(await call(jp_fetch, "POST", "runs", body=json.dumps({"path": "cases/demo.pcap"})))
    assert (await wait_for(jp_fetch, ok["id"]))["state"] == "done"


class DenySauce(Authorizer):
    """Allows everything but jupyter_sauce's resource."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "sauce"


ENDPOINTS_AND_UNKNOWN = [*ENDPOINTS, (None, None, ("no", "such", "endpoint"), None)]


@pytest.mark.parametrize(
    "sauce_settings",  # uploads on, so PUT reaches the authorization check
    [{"ServerApp": {"authorizer_class": DenySauce}, "SauceApp": {"allow_upload": True}}],
)
async def test_denying_authorizer_gets_403_everywhere(
    jp_fetch: Any, jp_serverapp: Any, jp_root_dir: Path, demo_capture: Path, sauce_app: Any
) -> None:
    assert isinstance(jp_serverapp.authorizer, DenySauce)
    # the server itself still answers: only resource "sauce" is denied
    assert (await jp_fetch("api", "status", method="GET")).code == 200
    for method, template, parts, data in ENDPOINTS_AND_UNKNOWN:
        kwargs = {} if data is None else {"body": data}
        response = await call(jp_fetch, method or "GET", *parts, **kwargs)
        if template is not None:
            check_openapi(method, template, response)
        error = assert_error(response, 403, "Forbidden")
        assert "not authorized" in error["message"] and "sauce" in error["message"], error
        assert response.headers["Content-Type"].startswith("application/json")
    assert sauce_app.manager.list() == [] and sauce_app.manager.analyses_started == 0
    assert not (jp_root_dir / "uploads").exists()
