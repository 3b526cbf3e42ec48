"""The REST API with a real Jupyter server and real Suricata: runs, results, sharing, cancel."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from captures import http_records, pcap_bytes

pytest.register_assert_rewrite("server_helpers")

from server_helpers import (  # noqa: E402
    assert_error,
    body,
    call,
    check_openapi,
    dns_capture,
    held_runs,
    needs_suricata,
    wait_for,
)

pytest_plugins = ("pytest_jupyter.jupyter_server", "server_helpers")
pytestmark = needs_suricata

ARROW = "application/vnd.apache.arrow.stream"


async def start(jp_fetch: Any, **request: Any) -> dict[str, Any]:
    t0 = time.monotonic()
    response = await call(jp_fetch, "POST", "runs", body=json.dumps(request))
    assert time.monotonic() - t0 < 2.0, "POST /runs must answer at once"
    assert response.code == 202, response.body
    check_openapi("POST", "/runs", response)
    return body(response)


async def test_status_and_extension(jp_fetch: Any, sauce_app: Any) -> None:
    response = await call(jp_fetch, "GET", "status")
    assert response.code == 200
    check_openapi("GET", "/status", response)
    status = body(response)
    assert status["suricata"]["available"] and status["suricata"]["version"].startswith("7.")
    assert status["suricata"]["runner"] == "local"
    assert status["ruleset"]["source"] == "starter" and len(status["ruleset"]["fingerprint"]) > 16
    assert status["engine"]["warm"] is False
    assert status["virustotal"]["mode"] == "offline"
    assert status["virustotal"]["quota_used_today"] == 0
    assert status["upload"] == {"enabled": False, "max_size": sauce_app.max_upload_size}
    spec = await call(jp_fetch, "GET", "openapi.json")
    assert body(spec)["openapi"].startswith("3.")


async def test_captures_listing(
    jp_fetch: Any, jp_root_dir: Path, demo_capture: Path, tmp_path: Path
) -> None:
    (jp_root_dir / "notes.txt").write_text("not a capture")
    (jp_root_dir / ".hidden").mkdir()
    shutil.copy(demo_capture, jp_root_dir / ".hidden" / "secret.pcap")
    outside = tmp_path / "outside.pcap"
    shutil.copy(demo_capture, outside)
    (jp_root_dir / "escape.pcap").symlink_to(outside)
    (jp_root_dir / "inside-link.cap").symlink_to(demo_capture)
    response = await call(jp_fetch, "GET", "captures")
    check_openapi("GET", "/captures", response)
    listing = {c["path"]: c for c in body(response)["captures"]}
    assert set(listing) == {"cases/demo.pcap", "inside-link.cap"}
    demo_item = listing["cases/demo.pcap"]
    assert demo_item["size"] == demo_capture.stat().st_size and demo_item["analysed"] is False
    run = await start(jp_fetch, path="cases/demo.pcap")
    assert (await wait_for(jp_fetch, run["id"]))["state"] == "done"
    listing = {c["path"]: c for c in body(await call(jp_fetch, "GET", "captures"))["captures"]}
    assert listing["cases/demo.pcap"]["analysed"] is True
    assert len(listing["cases/demo.pcap"]["sha256"]) == 64


async def test_run_and_results_in_three_formats(jp_fetch: Any, demo_capture: Path) -> None:
    run = await start(jp_fetch, path="cases/demo.pcap", rules="starter", home_net="10.42.0.0/16")
    assert run["state"] in ("queued", "running", "done") and run["reused"] is False
    done = await wait_for(jp_fetch, run["id"])
    assert done["state"] == "done", done
    check_openapi("GET", "/runs/{run_id}", await call(jp_fetch, "GET", "runs", run["id"]))
    assert done["home_net"] == ["10.42.0.0/16"] and done["ruleset"]["source"] == "starter"
    assert done["progress"] is not None and done["counts"]["alerts"] > 0
    n_alerts = done["counts"]["alerts"]

    template = "/runs/{run_id}/{table}"
    page = await call(jp_fetch, "GET", "runs", run["id"], "alerts", params={"limit": "3"})
    check_openapi("GET", template, page)
    data = body(page)
    assert data["total"] == n_alerts and len(data["rows"]) == min(3, n_alerts)
    assert data["rows"][0]["timestamp"].endswith("Z")
    second = body(
        await call(
            jp_fetch, "GET", "runs", run["id"], "alerts", params={"limit": "3", "offset": "3"}
        )
    )
    assert second["offset"] == 3 and second["rows"] != data["rows"]

    params = {"exclude_src": "194.61.24.0/24", "format": "json", "limit": "10000"}
    filtered = body(await call(jp_fetch, "GET", "runs", run["id"], "alerts", params=params))
    assert filtered["unfiltered"] == n_alerts
    assert all(r["src_ip"] != "194.61.24.102" for r in filtered["rows"])
    assert filtered["filter"]["exclude_src"] == "194.61.24.0/24"

    csv = await call(jp_fetch, "GET", "runs", run["id"], "alerts", params={"format": "csv"})
    check_openapi("GET", template, csv)
    assert csv.headers["Content-Type"].startswith("text/csv")
    frame = pd.read_csv(io.BytesIO(csv.body))
    assert len(frame) == n_alerts and "signature_id" in frame.columns

    arrow = await call(
        jp_fetch,
        "GET",
        "runs",
        run["id"],
        "alerts",
        headers={"Accept": ARROW},
        params={"exclude_src": "194.61.24.0/24"},
    )
    check_openapi("GET", template, arrow)
    assert arrow.headers["Content-Type"] == ARROW
    table = ipc.open_stream(arrow.body).read_all()
    assert table.num_rows == filtered["total"]
    assert str(table.schema.field("timestamp").type).startswith("timestamp[us")

    iocs = body(await call(jp_fetch, "GET", "runs", run["id"], "iocs"))
    assert "194.61.24.102" in {r["ip"] for r in iocs["rows"]}
    kept = body(
        await call(
            jp_fetch,
            "GET",
            "runs",
            run["id"],
            "iocs",
            params={"exclude_src": "194.61.24.102", "exclude_dst": "194.61.24.102"},
        )
    )
    assert "194.61.24.102" not in {r["ip"] for r in kept["rows"]}
    # JupyterLab's ServerConnection adds a bare timestamp to every GET: tolerated...
    busted = await call(jp_fetch, "GET", "runs", run["id"], "iocs", params={"1733300000000": ""})
    assert busted.code == 200 and body(busted)["total"] == iocs["total"]
    # ...but a misspelt parameter is still named
    typo = await call(
        jp_fetch, "GET", "runs", run["id"], "iocs", params={"exclude_scr": "10.0.0.0/8"}
    )
    assert typo.code == 400 and body(typo)["error"]["field"] == "exclude_scr"
    hosts = await call(jp_fetch, "GET", "runs", run["id"], "hosts", params={"format": "csv"})
    assert {"ip", "flows", "bytes"} <= set(pd.read_csv(io.BytesIO(hosts.body)).columns)
    flows = ipc.open_stream(
        (await call(jp_fetch, "GET", "runs", run["id"], "flows", params={"format": "arrow"})).body
    ).read_all()
    assert flows.num_rows == done["counts"]["flows"]

    listing = await call(jp_fetch, "GET", "runs")
    check_openapi("GET", "/runs", listing)
    assert [r["id"] for r in body(listing)["runs"]] == [run["id"]]
    gone = await call(jp_fetch, "DELETE", "runs", run["id"])
    check_openapi("DELETE", "/runs/{run_id}", gone)
    assert gone.code == 204
    missing = await call(jp_fetch, "GET", "runs", run["id"])
    assert missing.code == 404 and body(missing)["error"]["code"] == "RunNotFound"


async def test_identical_posts_share_one_run(
    jp_fetch: Any, sauce_app: Any, demo_capture: Path, jp_root_dir: Path
) -> None:
    sauce = sauce_app.sauce
    engine_runs = []
    real_run = sauce._run

    def counting_run(*args: Any, **kwargs: Any) -> dict:
        engine_runs.append(args[0])
        return real_run(*args, **kwargs)

    sauce._run = counting_run
    request = json.dumps({"path": "cases/demo.pcap", "home_net": ["10.42.0.0/16"]})
    first, second = await asyncio.gather(
        call(jp_fetch, "POST", "runs", body=request), call(jp_fetch, "POST", "runs", body=request)
    )
    a, b = body(first), body(second)
    assert first.code == second.code == 202
    assert a["id"] == b["id"] and {a["reused"], b["reused"]} == {False, True}
    done = await wait_for(jp_fetch, a["id"])
    assert done["state"] == "done" and done["requests"] == 2
    # a renamed copy of the same content: its own run id, but the store serves it
    shutil.copy(demo_capture, jp_root_dir / "copy.pcapng")
    other = await start(jp_fetch, path="copy.pcapng", home_net="10.42.0.0/16")
    other_done = await wait_for(jp_fetch, other["id"])
    assert other_done["key"] == done["key"]
    assert len(engine_runs) == 1, "Suricata must run once for identical content and settings"
    assert sauce.store.keys() == [done["key"]]
    again = await start(jp_fetch, path="cases/demo.pcap", home_net="10.42.0.0/16")
    assert again["id"] == a["id"] and again["reused"] is True and again["state"] == "done"


@pytest.mark.parametrize("jp_argv", [["--SauceApp.max_concurrent_runs=2"]])
async def test_command_line_traits(jp_fetch: Any, sauce_app: Any) -> None:
    assert sauce_app.max_concurrent_runs == 2
    assert sauce_app.manager._pool._max_workers == 2
    status = body(await call(jp_fetch, "GET", "status"))
    assert status["max_concurrent_runs"] == 2


async def test_client_disconnect_does_not_kill_its_run(
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    demo_capture: Path,
) -> None:
    payload = json.dumps({"path": "cases/demo.pcap"}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_serverapp.port)
    head = (
        f"POST {jp_base_url}sauce/api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {jp_auth_header['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    writer.write(head.encode() + payload)
    await writer.drain()
    writer.close()  # gone before reading the answer
    await writer.wait_closed()
    for _ in range(100):
        runs = body(await call(jp_fetch, "GET", "runs"))["runs"]
        if runs:
            break
        await asyncio.sleep(0.05)
    assert len(runs) == 1
    assert (await wait_for(jp_fetch, runs[0]["id"]))["state"] == "done"


def dns_rule(msg: str, sid: int = 9000001) -> str:
    return f'alert udp any any -> any 53 (msg:"{msg}"; sid:{sid}; rev:1;)\n'


async def signatures(jp_fetch: Any, run_id: str) -> list[str]:
    rows = body(await call(jp_fetch, "GET", "runs", run_id, "alerts"))["rows"]
    return [row["signature"] for row in rows]


async def test_edited_rules_or_capture_is_a_new_run(jp_fetch: Any, jp_root_dir: Path) -> None:
    """Bug: a finished run was reused by the rules path string, so after editing the rules
    folder the same POST answered the old run with the old alerts."""
    dns_capture(jp_root_dir / "dns.pcap", ["a.example.com", "b.example.com"])
    rules = jp_root_dir / "rules"
    rules.mkdir()
    (rules / "local.rules").write_text(dns_rule("TEST DNS query v1"))
    request = {"path": "dns.pcap", "rules": "rules"}
    first = await start(jp_fetch, **request)
    assert (await wait_for(jp_fetch, first["id"]))["state"] == "done"
    assert await signatures(jp_fetch, first["id"]) == ["TEST DNS query v1"] * 2

    (rules / "local.rules").write_text(dns_rule("TEST DNS query v2"))
    edited = await start(jp_fetch, **request)
    assert edited["id"] != first["id"] and edited["reused"] is False
    done = await wait_for(jp_fetch, edited["id"])
    assert done["state"] == "done" and done["key"] != first["key"]
    assert await signatures(jp_fetch, edited["id"]) == ["TEST DNS query v2"] * 2
    again = await start(jp_fetch, **request)  # unchanged since: the same run
    assert again["id"] == edited["id"] and again["reused"] is True

    dns_capture(jp_root_dir / "dns.pcap", ["a.example.com", "b.example.com", "c.example.com"])
    recaptured = await start(jp_fetch, **request)
    assert recaptured["id"] not in (first["id"], edited["id"]) and recaptured["reused"] is False
    assert (await wait_for(jp_fetch, recaptured["id"]))["counts"]["alerts"] == 3
    assert await signatures(jp_fetch, recaptured["id"]) == ["TEST DNS query v2"] * 3


@pytest.mark.parametrize(
    "sauce_settings", [{"SauceApp": {"max_concurrent_runs": 1, "max_queued_runs": 1}}]
)
async def test_full_queue_is_503(jp_fetch: Any, sauce_app: Any, demo_capture: Path) -> None:
    """One run running (held), one queued: a third distinct request is refused with 503."""
    sauce = sauce_app.sauce
    with held_runs(sauce):
        running = await start(jp_fetch, path="cases/demo.pcap", home_net="10.42.0.0/16")
        await wait_for(jp_fetch, running["id"], states=("running",))
        queued = await start(jp_fetch, path="cases/demo.pcap", home_net="10.43.0.0/16")
        assert queued["state"] == "queued"
        refused = await call(jp_fetch, "POST", "runs", body=json.dumps({"path": "cases/demo.pcap"}))
        check_openapi("POST", "/runs", refused)
        error = assert_error(refused, 503, "QueueFull", None)
        assert error["message"] == (
            "The queue of runs is full (SauceApp.max_queued_runs = 1); try again later."
        )
        assert error["field"] is None
        # joining a run that is already queued is no new run: still accepted
        joined = await start(jp_fetch, path="cases/demo.pcap", home_net="10.43.0.0/16")
        assert joined["id"] == queued["id"] and joined["reused"] is True
    for run in (running, queued):
        assert (await wait_for(jp_fetch, run["id"]))["state"] == "done"
    assert [r["id"] for r in body(await call(jp_fetch, "GET", "runs"))["runs"]] == [
        running["id"],
        queued["id"],
    ]


async def test_rules_edited_while_queued_are_not_shared_under_the_old_rules(
    jp_fetch: Any, sauce_app: Any, jp_root_dir: Path
) -> None:
    """A run asked for with rules v1 that ran with v2 (edited meanwhile) has v2's alerts:
    asking again with v1 must not be answered with it."""
    dns_capture(jp_root_dir / "dns.pcap", ["a.example.com"])
    rules = jp_root_dir / "rules"
    rules.mkdir()
    (rules / "local.rules").write_text(dns_rule("TEST DNS query v1"))
    sauce = sauce_app.sauce
    with held_runs(sauce):
        first = await start(jp_fetch, path="dns.pcap", rules="rules")
        await wait_for(jp_fetch, first["id"], states=("running",))
        (rules / "local.rules").write_text(dns_rule("TEST DNS query v2"))
    assert (await wait_for(jp_fetch, first["id"]))["state"] == "done"
    assert await signatures(jp_fetch, first["id"]) == ["TEST DNS query v2"]
    (rules / "local.rules").write_text(dns_rule("TEST DNS query v1"))
    again = await start(jp_fetch, path="dns.pcap", rules="rules")
    assert again["id"] != first["id"] and again["reused"] is False
    assert (await wait_for(jp_fetch, again["id"]))["state"] == "done"
    assert await signatures(jp_fetch, again["id"]) == ["TEST DNS query v1"]


async def test_a_run_from_the_server_opens_in_a_notebook_widget_and_back(
    jp_fetch: Any, jp_server_config: dict[str, Any], demo_capture: Path, jp_root_dir: Path
) -> None:
    """The server and the kernel share the case store: what the sidebar analysed opens in
    a CaseWidget with no Suricata run, and what a notebook analysed is "analysed" here."""
    from traitlets.config import Config

    from jupyter_sauce.pipeline import Sauce
    from jupyter_sauce.widget import CaseWidget

    run = await wait_for(jp_fetch, (await start(jp_fetch, path="cases/demo.pcap"))["id"])
    assert run["state"] == "done"
    kernel_config = Config(jp_server_config)  # what jupyter_sauce_config.* gives a kernel

    def in_the_kernel() -> None:  # a thread of its own: the widget applies results itself
        with Sauce(kernel_config) as kernel_sauce:
            copy = jp_root_dir / "renamed copy.pcap"
            copy.write_bytes(demo_capture.read_bytes())
            widget = CaseWidget(copy, sauce=kernel_sauce)
            try:
                widget.wait(30)
                assert widget.error == {}, widget.error
                assert widget.controls.stored
                assert widget.controls.stored_notice.startswith("Already analysed")
                widget.run()
                widget.wait(30)
                assert widget.case.reused and widget.case.key == run["key"]
                assert len(widget.alerts) == run["counts"]["alerts"] == 5
                other = jp_root_dir / "other.pcap"  # analysed in the notebook ...
                other.write_bytes(pcap_bytes(http_records()))
                kernel_sauce.analyze(other)
            finally:
                widget.close()

    await asyncio.to_thread(in_the_kernel)
    listed = {c["path"]: c for c in body(await call(jp_fetch, "GET", "captures"))["captures"]}
    assert listed["other.pcap"]["analysed"] is True  # ... is "analysed" in the sidebar
    again = await start(jp_fetch, path="other.pcap")
    assert (await wait_for(jp_fetch, again["id"]))["state"] == "done"


async def test_a_fault_after_the_analysis_fails_the_run_instead_of_leaving_it_running(
    jp_fetch: Any, sauce_app: Any, demo_capture: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """The bookkeeping after a finished analysis ran outside the error handling: a fault
    there left the run "running" for ever, and every later identical request joined it."""

    register = sauce_app.manager._register

    def broken(key: tuple, run: Any) -> None:
        if key[0] == "sha256":  # the bookkeeping after the analysis, not the request's
            raise KeyError("sha256")
        register(key, run)

    monkeypatch.setattr(sauce_app.manager, "_register", broken)
    run = await start(jp_fetch, path="cases/demo.pcap")
    failed = await wait_for(jp_fetch, run["id"])
    assert failed["state"] == "failed" and failed["finished"] is not None
    assert failed["error"]["code"] == "InternalError"
    assert "failed unexpectedly" in caplog.text
    monkeypatch.undo()
    again = await start(jp_fetch, path="cases/demo.pcap")
    assert again["id"] != run["id"]
    assert (await wait_for(jp_fetch, again["id"]))["state"] == "done"


async def test_csv_and_arrow_stream_in_chunks_with_every_row(
    jp_fetch: Any, demo_capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CSV and Arrow downloads were built whole in memory (a million alerts: one string
    of hundreds of MB); they are sent chunk by chunk and still hold every row once."""
    from jupyter_sauce.server import results

    monkeypatch.setattr(results, "CHUNK_ROWS", 4)
    run = await start(jp_fetch, path="cases/demo.pcap")
    done = await wait_for(jp_fetch, run["id"])
    assert done["counts"]["flows"] > 8  # several chunks
    params = {"format": "json", "limit": "10000"}
    rows = body(await call(jp_fetch, "GET", "runs", run["id"], "flows", params=params))["rows"]
    expected = [(r["flow_id"], r["src_ip"], r["pkts_toserver"]) for r in rows]
    csv = await call(jp_fetch, "GET", "runs", run["id"], "flows", params={"format": "csv"})
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert csv.body.count(b"flow_id") == 1  # one header row
    frame = pd.read_csv(io.BytesIO(csv.body))
    columns = [frame[c] for c in ("flow_id", "src_ip", "pkts_toserver")]
    assert list(zip(*columns, strict=True)) == expected
    got = await call(jp_fetch, "GET", "runs", run["id"], "flows", params={"format": "arrow"})
    assert got.headers["Content-Type"] == ARROW
    reader = ipc.open_stream(got.body)
    batches = list(reader)
    assert [b.num_rows for b in batches][:2] == [4, 4]
    table = pa.Table.from_batches(batches)
    got_rows = table.select(["flow_id", "src_ip", "pkts_toserver"]).to_pylist()
    assert [(r["flow_id"], r["src_ip"], r["pkts_toserver"]) for r in got_rows] == expected
    empty = await call(
        jp_fetch, "GET", "runs", run["id"], "flows", params={"format": "csv", "offset": "100000"}
    )
    assert empty.code == 200 and list(pd.read_csv(io.BytesIO(empty.body)).columns) == list(
        frame.columns
    )


async def test_query_parameters_repeated_or_not_text_are_named(
    jp_fetch: Any, demo_capture: Path, jp_http_port: int, jp_base_url: str, jp_auth_header: dict
) -> None:
    """?exclude_src=A&exclude_src=B kept only B (A silently dropped); %ff gave tornado's
    "Invalid unicode in exclude_src: b'\\xff'" with field null; Accept: text/csv;q=0
    (which means "not CSV") answered CSV."""
    from tornado.httpclient import AsyncHTTPClient

    run = await start(jp_fetch, path="cases/demo.pcap")
    assert (await wait_for(jp_fetch, run["id"]))["state"] == "done"
    base = f"http://localhost:{jp_http_port}{jp_base_url}sauce/api"

    async def get(url: str, **headers: str) -> Any:
        return await AsyncHTTPClient().fetch(
            base + url, headers={**jp_auth_header, **headers}, raise_error=False
        )

    alerts = f"/runs/{run['id']}/alerts"
    for query, field, message in (
        ("exclude_src=194.61.24.0/24&exclude_src=10.0.0.0/8", "exclude_src",
         "The query parameter 'exclude_src' is given 2 times."),
        ("limit=abc&limit=1", "limit", "The query parameter 'limit' is given 2 times."),
        ("exclude_src=%ff", "exclude_src", "The query parameter 'exclude_src' is not UTF-8 text."),
    ):  # fmt: skip
        got = await get(f"{alerts}?{query}")
        check_openapi("GET", "/runs/{run_id}/{table}", got)
        error = assert_error(got, 400, "FieldError", field)
        assert error["message"] == message
    bad_name = await AsyncHTTPClient().fetch(
        base + "/uploads/a%ff.pcap", method="PUT", body=b"x", headers=jp_auth_header,
        raise_error=False,
    )  # fmt: skip
    error = assert_error(bad_name, 400, "FieldError", "name")
    assert error["message"] == "The 'name' in the URL is not UTF-8 text."
    for accept, content_type in (
        ("text/csv;q=0, application/json", "application/json"),
        ("application/json;q=0.5, text/csv", "text/csv"),
        (f"text/csv;q=0.2, {ARROW};q=0.9", ARROW),
    ):
        got = await get(alerts, Accept=accept)
        assert got.code == 200 and got.headers["Content-Type"].startswith(content_type), accept
