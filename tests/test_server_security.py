"""REST API security and input errors: auth, XSRF, traversal, one error shape, uploads,
and the VirusTotal key kept out of every response and log line."""

from __future__ import annotations

import json
import logging
import resource
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("server_helpers")

from server_helpers import (  # noqa: E402
    assert_error,
    body,
    call,
    check_openapi,
    dns_capture,
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
    # "~" is not expanded: joined to the root as written, it names nothing there
    home = assert_error(await post_run(jp_fetch, {"path": "~/x.pcap"}), 404, field="path")
    assert home["message"] == missing["message"]


async def test_listed_captures_named_with_tilde_or_backslash_can_be_analysed(
    jp_fetch: Any, jp_root_dir: Path, demo_capture: Path
) -> None:
    """GET /captures listed '~copy.pcap' and 'back\\slash.pcap', and POST /runs refused
    them as outside the root."""
    for name in ("~copy.pcap", "back\\slash.pcap"):
        shutil.copy(demo_capture, jp_root_dir / name)
    listed = {c["path"] for c in body(await call(jp_fetch, "GET", "captures"))["captures"]}
    assert {"~copy.pcap", "back\\slash.pcap"} <= listed
    for name in ("~copy.pcap", "back\\slash.pcap"):
        run = body(await post_run(jp_fetch, {"path": name}))
        done = await wait_for(jp_fetch, run["id"])
        assert done["state"] == "done" and done["counts"]["alerts"] == 5, done


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
    # bug: "home_net: HOME_NET: 'banana' ...", the field twice; and an empty path had no field
    banana = await post_run(jp_fetch, {"path": "cases/demo.pcap", "home_net": "banana"})
    error = assert_error(banana, 400, "FieldError", "home_net")
    assert error["message"] == "HOME_NET: 'banana' is not a valid address or CIDR range."
    empty = assert_error(await post_run(jp_fetch, {"path": ""}), 400, "PathError", "path")
    assert empty["message"] == "The path is empty."
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
    # every upload error names the field at fault (bug: all had field null)
    for name, payload, status, code, field, message in (
        ("up.pcap", data, 409, "UploadExists", "name", "A file of that name was already uploaded."),
        ("big.pcap", data * 2, 413, "UploadTooLarge", "body",
         "The upload is larger than the limit of 30000 bytes."),
        ("notes.txt", b"x", 400, "PathError", "name",
         "Only .pcap, .pcapng, .cap files can be uploaded."),
        ("..%2Fx.pcap", b"x", 400, "PathError", "name",
         "The file name must be a plain name without directories."),
        (".hidden.pcap", b"x", 400, "PathError", "name",
         "The file name must be a plain name without directories."),
        # a capture's name is not enough: the content must be one (it failed only at a run)
        ("garbage.pcap", b"hello", 400, "PathError", "body",
         "The upload is not a pcap or pcapng capture; it looks like a text file."),
        ("empty.pcap", b"", 400, "PathError", "body",
         "The upload is not a pcap or pcapng capture; it looks like an empty file (0 bytes)."),
    ):  # fmt: skip
        got = await call(jp_fetch, "PUT", "uploads", name, body=payload)
        check_openapi("PUT", "/uploads/{name}", got)
        error = assert_error(got, status, code, field)
        assert (error["field"], error["message"]) == (field, message), name
    leftovers = [p.name for p in (jp_root_dir / "uploads").iterdir()]
    assert leftovers == ["up.pcap"]
    run = body(await call(jp_fetch, "POST", "runs", body=json.dumps({"path": "uploads/up.pcap"})))
    assert (await wait_for(jp_fetch, run["id"]))["state"] == "done"


async def test_rules_folder_with_files_leading_out_is_refused(
    jp_fetch: Any, jp_root_dir: Path, tmp_path: Path
) -> None:
    """Bug: only the top-level rules path was checked, so a rules folder inside the root
    could read files outside it through symlinks (their text showed in run warnings)."""
    dns_capture(jp_root_dir / "dns.pcap", ["a.example.com"])
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.rules"
    secret.write_text("this is the secret text of a file outside the root\n")
    (outside / "classification.config").write_text("config classification: x,secret,1\n")
    rule = 'alert udp any any -> any 53 (msg:"inside"; sid:9000001; rev:1;)\n'
    cases = {
        "rules2": {"x.rules": secret},  # the bug's input
        "rules3": {"ok.rules": None, "classification.config": outside / "classification.config"},
        "rules4": {"ok.rules": None, "gone.rules": outside / "deleted.rules"},  # dangling
    }
    for folder, files in cases.items():
        (jp_root_dir / folder).mkdir()
        for name, target in files.items():
            if target is None:
                (jp_root_dir / folder / name).write_text(rule)
            else:
                (jp_root_dir / folder / name).symlink_to(target)
        payload = {"path": "dns.pcap", "rules": folder}
        error = assert_error(await post_run(jp_fetch, payload), 403, "PathForbidden", "rules")
        assert (error["message"], error["field"]) == (OUTSIDE, "rules"), folder
        assert str(tmp_path) not in json.dumps(error)
    # one rules file whose folder's classification.config leads out
    payload = {"path": "dns.pcap", "rules": "rules3/ok.rules"}
    assert_error(await post_run(jp_fetch, payload), 403, "PathForbidden", "rules")
    # rules that cannot be used are refused at once, named as the client named them
    (jp_root_dir / "empty").mkdir()
    payload = {"path": "dns.pcap", "rules": "empty"}
    error = assert_error(await post_run(jp_fetch, payload), 400, "RulesError", "rules")
    assert error["message"] == "Rules directory 'empty' holds no .rules files."
    # symlinks that stay inside the root are fine
    (jp_root_dir / "shared.rules").write_text(rule)
    (jp_root_dir / "rules5").mkdir()
    (jp_root_dir / "rules5" / "linked.rules").symlink_to(jp_root_dir / "shared.rules")
    run = body(await post_run(jp_fetch, {"path": "dns.pcap", "rules": "rules5"}))
    done = await wait_for(jp_fetch, run["id"])
    assert done["state"] == "done" and done["ruleset"]["rules"] == 1, done
    assert done["counts"]["alerts"] == 1 and done["warnings"] == []
    assert "secret" not in json.dumps(done)


async def test_hostile_bodies_are_400_naming_the_field(jp_fetch: Any, demo_capture: Path) -> None:
    """Bug: these were 500s (RecursionError, UnicodeEncodeError escaped the handlers)."""
    deep = "[" * 100000 + "]" * 100000
    for endpoint in ("runs", "intel"):
        got = await call(jp_fetch, "POST", endpoint, body=deep)
        check_openapi("POST", f"/{endpoint}", got)
        error = assert_error(got, 400, "FieldError", "body")
        assert error["message"] == "The request body is nested too deeply."
    for endpoint, text, field in (
        ("runs", '{"path": "\\ud800"}', "path"),
        ("intel", '{"ips": ["\\ud800"]}', "ips"),
        ("runs", '{"path": "cases/demo.pcap", "home_net": ["10.0.0.0/8", "\\udfff"]}', "home_net"),
    ):
        got = await call(jp_fetch, "POST", endpoint, body=text)
        check_openapi("POST", f"/{endpoint}", got)
        error = assert_error(got, 400, "FieldError", field)
        assert error["message"] == f"The field {field!r} holds a lone surrogate, which is not text."
    got = await call(jp_fetch, "POST", "runs", body='{"\\ud800": 1}')
    error = assert_error(got, 400, "FieldError", "body")
    assert error["message"] == "A field name is not valid Unicode text."
    # deep, but not too deep for the parser: still named, not a 500
    nested = '{"ips": ' + "[" * 500 + "]" * 500 + "}"
    error = assert_error(await call(jp_fetch, "POST", "intel", body=nested), 400, "FieldError")
    assert (error["field"], error["message"]) == ("ips", "The field 'ips' is nested too deeply.")


@pytest.mark.parametrize("sauce_settings", [{"SauceApp": {"allow_upload": True}}])
async def test_upload_name_too_long_is_400(jp_fetch: Any, jp_root_dir: Path) -> None:
    """Bug: a 300-character name was a 500 (ENAMETOOLONG escaped prepare())."""
    got = await call(jp_fetch, "PUT", "uploads", "a" * 300 + ".pcap", body=b"x")
    check_openapi("PUT", "/uploads/{name}", got)
    error = assert_error(got, 400, "PathError", "name")
    assert error["message"] == "The file name is longer than 255 bytes."
    longest = "a" * 250 + ".pcap"  # 255 bytes: allowed
    ok = await call(jp_fetch, "PUT", "uploads", longest, body=b"\xd4\xc3\xb2\xa1")
    assert ok.code == 201 and body(ok)["name"] == longest
    assert [p.name for p in (jp_root_dir / "uploads").iterdir()] == [longest]


@pytest.mark.parametrize("sauce_settings", [{"SauceApp": {"allow_upload": True}}])
async def test_upload_names_that_lie_when_shown_are_400(jp_fetch: Any, jp_root_dir: Path) -> None:
    """Names with a newline, an escape or a right-to-left override were stored: in a
    listing "evil\u202egnp.pcap" shows as "evilpcap.png"."""
    for name in ("evil\u202egnp.pcap", "two\nlines.pcap", "esc\x1b[31m.pcap", "zw\u200b.pcap"):
        got = await call(jp_fetch, "PUT", "uploads", name, body=b"x")
        check_openapi("PUT", "/uploads/{name}", got)
        error = assert_error(got, 400, "PathError", "name")
        assert error["message"] == (
            "The file name must not contain control or formatting characters."
        ), name
    ok = await call(jp_fetch, "PUT", "uploads", "café capture.pcap", body=b"\xd4\xc3\xb2\xa1")
    assert ok.code == 201 and body(ok)["name"] == "café capture.pcap"
    assert [p.name for p in (jp_root_dir / "uploads").iterdir()] == ["café capture.pcap"]


@pytest.mark.parametrize("sauce_settings", [{"SauceApp": {"allow_upload": True}}])
async def test_an_upload_the_disk_cannot_hold_is_507_and_leaves_nothing(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    """A full disk reset the connection mid-upload (the write error escaped
    data_received); now the client gets the reason. A file size limit stands in for the
    full disk: the same OSError from the same write."""
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, old_limit[1]))
    try:
        got = await call(jp_fetch, "PUT", "uploads", "big.pcap", body=b"\0" * 1_000_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    check_openapi("PUT", "/uploads/{name}", got)
    error = assert_error(got, 507, "UploadNotStored")
    assert error["message"] == "The server could not store the upload: File too large."
    assert list((jp_root_dir / "uploads").iterdir()) == []
    data = b"\xd4\xc3\xb2\xa1" + b"\0" * 999_996  # a pcap magic, then anything
    ok = await call(jp_fetch, "PUT", "uploads", "big.pcap", body=data)
    assert ok.code == 201 and (jp_root_dir / "uploads" / "big.pcap").stat().st_size == 1_000_000


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
