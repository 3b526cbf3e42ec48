"""REST API security and input errors: auth, XSRF, traversal, one error shape, uploads,
and the VirusTotal key kept out of every response and log line."""

from __future__ import annotations

import json
import logging
import shutil
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
    wait_for,
)

pytest_plugins = ("pytest_jupyter.jupyter_server", "server_helpers")
pytestmark = needs_suricata

OUTSIDE = "The path is not inside the server's root directory."


async def post_run(jp_fetch: Any, payload: Any) -> Any:
    data = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    response = await call(jp_fetch, "POST", "runs", body=data)
    check_openapi("POST", "/runs", response)
    return response


async def test_traversal_is_refused_without_detail(
    jp_fetch: Any, jp_root_dir: Path, demo_capture: Path, tmp_path: Path
) -> None:
    outside_dir = tmp_path / "elsewhere"
    outside_dir.mkdir()
    shutil.copy(demo_capture, outside_dir / "secret.pcap")
    (jp_root_dir / "link.pcap").symlink_to(outside_dir / "secret.pcap")
    (jp_root_dir / "linkdir").symlink_to(outside_dir)
    cases = [
        {"path": "../elsewhere/secret.pcap"},
        {"path": "cases/../../elsewhere/secret.pcap"},
        {"path": str(outside_dir / "secret.pcap")},
        {"path": "/etc/passwd"},
        {"path": "~/x.pcap"},
        {"path": "link.pcap"},
        {"path": "linkdir/secret.pcap"},
    ]
    for payload in cases:
        error = assert_error(await post_run(jp_fetch, payload), 403, "PathForbidden", "path")
        assert error["message"] == OUTSIDE
        assert str(tmp_path) not in json.dumps(error)
    for rules in ("/etc/suricata/rules", "../elsewhere", "linkdir"):
        payload = {"path": "cases/demo.pcap", "rules": rules}
        error = assert_error(await post_run(jp_fetch, payload), 403, "PathForbidden", "rules")
        assert error["message"] == OUTSIDE
    missing = assert_error(await post_run(jp_fetch, {"path": "nope.pcap"}), 404, field="path")
    assert str(jp_root_dir) not in missing["message"]


async def test_bad_input_is_400_naming_the_field(jp_fetch: Any, demo_capture: Path) -> None:
    assert_error(await post_run(jp_fetch, "{not json"), 400, "FieldError", "body")
    assert_error(await post_run(jp_fetch, [1, 2]), 400, "FieldError", "body")
    assert_error(
        await post_run(jp_fetch, {"path": "cases/demo.pcap", "colour": 1}), 400, field="colour"
    )
    assert_error(await post_run(jp_fetch, {"rules": "starter"}), 400, field="path")
    assert_error(await post_run(jp_fetch, {"path": 7}), 400, field="path")
    error = assert_error(
        await post_run(jp_fetch, {"path": "cases/demo.pcap", "home_net": "10.0.0.0/33"}),
        400,
        field="home_net",
    )
    assert "10.0.0.0/33" in error["message"]
    run = body(await post_run(jp_fetch, {"path": "cases/demo.pcap"}))
    assert (await wait_for(jp_fetch, run["id"]))["state"] == "done"
    bad = await call(
        jp_fetch,
        "GET",
        "runs",
        run["id"],
        "alerts",
        params={"exclude_src": "10.0.0.0/8, 300.1.2.3"},
    )
    check_openapi("GET", "/runs/{run_id}/{table}", bad)
    assert "300.1.2.3" in assert_error(bad, 400, "FieldError", "exclude_src")["message"]
    for params, field in (
        ({"limit": "-1"}, "limit"),
        ({"format": "xml"}, "format"),
        ({"colour": "red"}, "colour"),
        ({"offset": "x"}, "offset"),
    ):
        got = await call(jp_fetch, "GET", "runs", run["id"], "alerts", params=params)
        assert_error(got, 400, field=field)
    assert_error(await call(jp_fetch, "GET", "runs", "0" * 32), 404, "RunNotFound")
    not_a_route = await call(jp_fetch, "GET", "runs", "xyz")
    assert not_a_route.code == 404
    intel = await call(jp_fetch, "POST", "intel", body=json.dumps({"ips": "1.2.3.4"}))
    assert_error(intel, 400, field="ips")


async def test_auth_and_xsrf_are_required(
    jp_fetch: Any,
    http_server_client: Any,
    jp_base_url: str,
    jp_serverapp: Any,
    demo_capture: Path,
) -> None:
    url = f"{jp_base_url}sauce/api/"
    payload = json.dumps({"path": "cases/demo.pcap"})
    for method, path, data in (
        ("GET", "status", None),
        ("GET", "captures", None),
        ("GET", "runs", None),
        ("POST", "runs", payload),
        ("POST", "intel", json.dumps({"ips": []})),
        ("GET", "openapi.json", None),
    ):
        response = await http_server_client.fetch(
            url + path, method=method, body=data, raise_error=False
        )
        assert response.code in (401, 403), (path, response.code)
        assert "error" in body(response)
    # cookie auth: log in with the token, then POST without the XSRF token
    token = jp_serverapp.identity_provider.token
    login = await http_server_client.fetch(
        f"{jp_base_url}login?token={token}", follow_redirects=False, raise_error=False
    )
    cookies = [c.split(";")[0] for c in login.headers.get_list("Set-Cookie")]
    assert any(c.startswith("username-") for c in cookies), cookies
    cookie = "; ".join(cookies)
    ok = await http_server_client.fetch(
        url + "status", headers={"Cookie": cookie}, raise_error=False
    )
    assert ok.code == 200
    no_xsrf = await http_server_client.fetch(
        url + "runs", method="POST", body=payload, headers={"Cookie": cookie}, raise_error=False
    )
    assert_error(no_xsrf, 403)
    # the double-submit check passes once cookie and header carry the same token
    xsrf = "0123456789abcdef0123456789abcdef"
    with_xsrf = await http_server_client.fetch(
        url + "runs",
        method="POST",
        body=payload,
        headers={"Cookie": f"{cookie}; _xsrf={xsrf}", "X-XSRFToken": xsrf},
        raise_error=False,
    )
    assert with_xsrf.code == 202


async def test_uploads_are_off_by_default(jp_fetch: Any) -> None:
    response = await call(jp_fetch, "PUT", "uploads", "x.pcap", body=b"abc")
    check_openapi("PUT", "/uploads/{name}", response)
    assert_error(response, 403, "UploadsDisabled")


@pytest.mark.parametrize(
    "sauce_settings", [{"SauceApp": {"allow_upload": True, "max_upload_size": 30000}}]
)
async def test_upload_streams_with_a_limit(
    jp_fetch: Any, jp_root_dir: Path, demo_capture: Path
) -> None:
    data = demo_capture.read_bytes()
    assert len(data) < 30000
    response = await call(jp_fetch, "PUT", "uploads", "up.pcap", body=data)
    check_openapi("PUT", "/uploads/{name}", response)
    assert response.code == 201 and body(response)["path"] == "uploads/up.pcap"
    assert (jp_root_dir / "uploads" / "up.pcap").read_bytes() == data
    assert_error(await call(jp_fetch, "PUT", "uploads", "up.pcap", body=data), 409)
    too_big = await call(jp_fetch, "PUT", "uploads", "big.pcap", body=data * 2)
    assert_error(too_big, 413, "UploadTooLarge")
    assert_error(await call(jp_fetch, "PUT", "uploads", "notes.txt", body=b"x"), 400)
    assert_error(await call(jp_fetch, "PUT", "uploads", "..%2Fx.pcap", body=b"x"), 400)
    leftovers = [p.name for p in (jp_root_dir / "uploads").iterdir()]
    assert leftovers == ["up.pcap"]
    run = body(await call(jp_fetch, "POST", "runs", body=json.dumps({"path": "uploads/up.pcap"})))
    assert (await wait_for(jp_fetch, run["id"]))["state"] == "done"


FAKE_KEY = "sk-test-4e1f0c9b7a2d4c8e9f3a"


@pytest.fixture
def vt(tmp_path: Path) -> Any:
    try:
        from vtserver import VTServer
    except ImportError:
        pytest.skip("tests/vtserver.py (the local VirusTotal test server) is not available")
    from vtserver import VT_CORPUS

    if not VT_CORPUS.is_dir():
        pytest.skip(f"VirusTotal corpus not found at {VT_CORPUS} (set SAUCE_CORPUS)")
    server = VTServer(VT_CORPUS, api_key=FAKE_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def sauce_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Tests that request ``vt`` get a server pointed at it with the fake key in config."""
    if "vt" not in request.fixturenames:
        return {}
    vt = request.getfixturevalue("vt")
    return {"VirusTotalConfig": {"api_key": FAKE_KEY, "host": vt.url, "requests_per_minute": 1000}}


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_virustotal_key_never_leaks(
    jp_fetch: Any, jp_serverapp: Any, vt: Any, demo_capture: Path
) -> None:
    collect = Collect()
    loggers = [logging.getLogger(), jp_serverapp.log, logging.getLogger("jupyter_sauce")]
    for logger in loggers:
        logger.addHandler(collect)
    try:
        responses = [await call(jp_fetch, "GET", "status")]
        status = body(responses[0])
        assert status["virustotal"]["mode"] == "live"
        intel = await call(
            jp_fetch,
            "POST",
            "intel",
            body=json.dumps(
                {"ips": ["138.128.150.133", "8.8.8.8", "10.42.85.10", "203.0.113.9", "bogus"]}
            ),
        )
        check_openapi("POST", "/intel", intel)
        responses.append(intel)
        rows = {r["ip"]: r for r in body(intel)["rows"]}
        assert rows["138.128.150.133"]["source"] == "live"
        assert rows["10.42.85.10"]["source"] == "skipped"
        assert rows["bogus"]["source"] == "error"
        assert rows["138.128.150.133"]["link"].endswith("/ip-address/138.128.150.133")
        assert vt.requests and all(r.key_ok for r in vt.requests)  # the key was used
        again = await call(jp_fetch, "POST", "intel", body=json.dumps({"ips": ["138.128.150.133"]}))
        assert body(again)["rows"][0]["source"] == "cache" and body(again)["requests_made"] == 0
        responses.append(again)
        run = body(
            await call(jp_fetch, "POST", "runs", body=json.dumps({"path": "cases/demo.pcap"}))
        )
        await wait_for(jp_fetch, run["id"])
        for parts in (
            ("runs",),
            ("runs", run["id"]),
            ("captures",),
            ("openapi.json",),
            ("runs", run["id"], "iocs"),
        ):
            responses.append(await call(jp_fetch, "GET", *parts))
        responses.append(await call(jp_fetch, "POST", "intel", body=b"{bad"))
        responses.append(await call(jp_fetch, "GET", "runs", "f" * 32))
    finally:
        for logger in loggers:
            logger.removeHandler(collect)
    for response in responses:
        assert FAKE_KEY not in response.body.decode("utf-8", "replace")
        assert FAKE_KEY not in str(response.headers)
    assert collect.lines, "the server logged nothing at all?"
    assert not [line for line in collect.lines if FAKE_KEY in line]
