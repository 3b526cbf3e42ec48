"""The CaseWidget model in Python: traits, actions, validation, state after errors.

A fake pipeline stands in for Suricata so these run in a second; one test at the end
runs the real pipeline on the corpus' Nmap capture.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pytest
from conftest import ET_OPEN, PCAPS

from jupyter_sauce.config import RulesConfig, SuricataConfig
from jupyter_sauce.engine import Progress
from jupyter_sauce.errors import Cancelled, CaptureError, InputError
from jupyter_sauce.frames import ALERT_SCHEMA, FLOW_SCHEMA, table_to_frame
from jupyter_sauce.pipeline import Case, Sauce
from jupyter_sauce.virustotal.result import EnrichResult, empty_row, rows_to_frame
from jupyter_sauce.widget import CaseWidget, WidgetClosed, load_ipython_extension
from jupyter_sauce.widget import grid as grids
from jupyter_sauce.widget.magics import sauce_magic
from jupyter_sauce.widget.picker import Picker
from jupyter_sauce.widget.views import timeline
from jupyter_sauce.widget.worker import error_payload

T0 = datetime(2020, 9, 19, 2, 21, 0, tzinfo=timezone.utc)


def _alerts(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Alerts from (signature, src, dst), one second apart."""
    records = [
        {"timestamp": T0 + timedelta(seconds=i), "signature": sig, "signature_id": 1000 + i % 3,
         "rev": 1, "gid": 1, "category": "Attempted Information Leak", "severity": 2,
         "action": "allowed", "proto": "TCP", "app_proto": "http", "src_ip": src,
         "src_port": 40000 + i, "dest_ip": dst, "dest_port": 80, "flow_id": 2**50 + i}
        for i, (sig, src, dst) in enumerate(rows)
    ]  # fmt: skip
    return table_to_frame(pa.Table.from_pylist(records, schema=ALERT_SCHEMA))


def _flows(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    records = [
        {"flow_id": i, "src_ip": s, "src_port": 1000 + i, "dest_ip": d, "dest_port": 443,
         "proto": "TCP", "pkts_toserver": 3, "pkts_toclient": 2, "bytes_toserver": 300,
         "bytes_toclient": 200, "start": T0, "end": T0 + timedelta(seconds=9)}
        for i, (s, d) in enumerate(pairs)
    ]  # fmt: skip
    return table_to_frame(pa.Table.from_pylist(records, schema=FLOW_SCHEMA))


NMAP_ROWS = [("ET SCAN Nmap", "194.61.24.102", "10.42.85.10")] * 6 + [
    ("ET POLICY RDP", "10.42.85.115", "10.42.85.10"),
    ("ET TROJAN C2", "10.42.85.115", "203.78.103.109"),
]


def _case(tmp_path: Path, alerts: pd.DataFrame, name: str = "case.pcap") -> Case:
    manifest = {
        "capture": {"name": name, "sha256": "0" * 64, "first_ts": T0.timestamp() - 5,
                    "last_ts": T0.timestamp() + 60},
        "analysed_at": "2024-05-01T10:00:00+00:00",
        "ruleset": {"location": "/rules/fake-rules", "rules": 3, "date": "2024-04-19"},
        "options": {"home_net": ["10.0.0.0/8"]},
        "counts": {"alerts": len(alerts), "flows": 2},
        "warnings": [], "notices": [] if len(alerts) else ["Suricata raised no alerts."],
    }  # fmt: skip
    flows = _flows([("194.61.24.102", "10.42.85.10"), ("10.42.85.115", "203.78.103.109")])
    return Case("k" * 32, tmp_path, manifest, _alerts=alerts, _flows=flows)


class FakeSauce:
    """Duck-typed :class:`Sauce`: no Suricata, scripted results and errors."""

    def __init__(self, case: Case, stored: Case | None = None) -> None:
        self.suricata_config = SuricataConfig(home_net="10.0.0.0/8")
        self.rules_config = RulesConfig(rules="/rules/fake-rules")
        self.case, self.stored = case, stored
        self.error: BaseException | None = None
        self.wait_for_cancel = False  # analyze() runs until cancelled, like a rules load
        self.hold: threading.Event | None = None  # analyze() waits for it, then returns
        self.analyze_calls: list[dict] = []
        self.enriched: list[list[str]] = []
        self.enricher = SimpleNamespace(status=lambda: {
            "mode": "offline", "quota_used_today": 0, "quota_limit": 500,
            "requests_per_minute": 4})  # fmt: skip
        self.closed = False
        self.notes: list[str] = []

    def home_net(self, text: str | None = None) -> list[str]:
        return Sauce.home_net(self, text)  # the real validation

    def ruleset(self, spec: str | None = None):
        return SimpleNamespace(label={"location": spec or "/rules/default", "rules": 3})

    def open(self, capture, *, rules=None, home_net=None) -> Case | None:
        if Path(capture).read_bytes()[:4] == b"text":
            raise CaptureError(f"Capture {str(capture)!r} is a text file, not a packet capture.")
        return self.stored

    def is_analysed(self, capture) -> bool:
        return self.stored is not None

    def analyze(self, capture, *, rules=None, home_net=None, rerun=False, progress=None,
                cancel: threading.Event | None = None) -> Case:  # fmt: skip
        self.analyze_calls.append(
            {"capture": capture, "rerun": rerun, "home_net": home_net, "rules": rules}
        )
        if progress:
            progress(Progress("suricata", 50, 100, "Suricata is reading the capture"))
        if self.hold is not None:
            assert self.hold.wait(10), "never released"
        if self.wait_for_cancel:
            assert cancel is not None and cancel.wait(10), "never cancelled"
            raise Cancelled("The analysis was cancelled.")
        if self.error is not None:
            raise self.error
        return self.case

    def enrich(self, ips, progress=None, cancel=None) -> EnrichResult:
        self.enriched.append(list(ips))
        rows = [empty_row(ip, "none", None, f"https://www.virustotal.com/gui/ip-address/{ip}")
                for ip in ips]  # fmt: skip
        rows[0].update(malicious=7, source="offline", country="NL")
        return EnrichResult(
            frame=rows_to_frame(rows), notices=["No VirusTotal API key: offline reports only."]
        )

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "captures"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.pcap").write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 20)
    (folder / "sub" / "b.pcapng").write_bytes(b"\x0a\x0d\x0d\x0a" + b"\0" * 40)
    (folder / "c.cap").write_bytes(b"\xd4\xc3\xb2\xa1")
    (folder / "notes.txt").write_text("not listed")
    (folder / "notes.pcap").write_text("text, not a capture")
    (folder / ".hidden.pcap").write_bytes(b"x")
    return folder


@pytest.fixture
def fake(tmp_path: Path) -> FakeSauce:
    return FakeSauce(_case(tmp_path, _alerts(NMAP_ROWS)))


@pytest.fixture
def widget(root: Path, fake: FakeSauce):
    w = CaseWidget(root=root, sauce=fake)
    try:
        yield w
    finally:
        w.close()


def _run(widget: CaseWidget, path: str = "a.pcap") -> None:
    widget.controls.act("select", path=path)
    widget.wait(10)
    widget.controls.act("run")
    widget.wait(10)


# --- traits and the picker ------------------------------------------------------------
def test_initial_state_lists_captures_and_settings(widget: CaseWidget, root: Path) -> None:
    widget.wait(10)
    c = widget.controls
    assert c.root_label == str(root.resolve())
    names = [(e["name"], e["kind"]) for e in c.entries]
    assert names == [("sub", "dir"), ("a.pcap", "capture"), ("c.cap", "capture"),
                     ("notes.pcap", "capture")]  # fmt: skip
    assert c.entries[1]["size"] == 24 and c.entries[1]["analysed"] is False
    assert c.home_net == "10.0.0.0/8" and c.rules == "/rules/fake-rules"
    assert c.rules_label.startswith("fake-rules")
    assert not c.selected and not c.running and c.error == {}
    assert widget.case is None and widget.alerts.empty and widget.iocs.empty
    assert list(widget.children) == [widget.controls, widget.ranges_panel, widget.ioc_panel]


def test_synced_traits_are_declared_with_sync_tags(widget: CaseWidget) -> None:
    state = widget.controls.get_state()
    for name in ("entries", "selected", "running", "progress", "error", "rules", "home_net"):
        assert name in state
    assert widget.ranges_panel.get_state()["_view"] == "ranges"
    assert "range_error" in widget.ranges_panel.get_state()
    assert "rows" in widget.ioc_panel.get_state() and "vt_status" in widget.ioc_panel.get_state()


def test_picker_never_goes_above_root(widget: CaseWidget, root: Path, tmp_path: Path) -> None:
    widget.controls.act("cd", path="sub")
    assert widget.controls.folder == "sub"
    assert [e["kind"] for e in widget.controls.entries] == ["up", "capture"]
    widget.controls.act("cd", path="../..")
    assert "outside the capture folder" in widget.controls.error["message"]
    assert widget.controls.folder == "sub"  # unchanged
    (tmp_path / "secret.pcap").write_bytes(b"x")
    os.symlink(tmp_path / "secret.pcap", root / "link.pcap")
    picker = Picker(root)
    assert "link.pcap" not in [e["name"] for e in picker.listing("")]
    with pytest.raises(InputError):
        picker.capture("../secret.pcap")
    with pytest.raises(InputError):
        picker.capture("link.pcap")


def test_selecting_a_path_outside_the_root_is_an_error_line(
    widget: CaseWidget, root: Path, tmp_path: Path
) -> None:
    """w.select("/etc/passwd") raised from the cell while a missing capture set the error
    line: both are one sentence on the error line, and the widget goes on."""
    (tmp_path / "secret.pcap").write_bytes(b"x")
    widget.select(tmp_path / "secret.pcap")
    assert widget.controls.error["message"] == (
        f"{str(tmp_path / 'secret.pcap')!r} is outside the capture folder {str(root)!r}."
    )
    assert widget.controls.selected == ""
    widget.select(root / "sub" / next(p.name for p in (root / "sub").iterdir()))
    assert widget.controls.error == {} and widget.controls.selected.startswith("sub/")
    widget.select(root)  # a folder: named, not "'' is not a file"
    assert widget.controls.error["message"] == (
        f"{str(root)!r} is the capture folder itself; choose a capture in it."
    )
    widget.select(root / "sub")
    assert widget.controls.error["message"] == "'sub' is a folder; choose a capture file in it."


def test_select_of_what_is_not_a_path_and_of_a_tilde_name(
    widget: CaseWidget, root: Path, monkeypatch
) -> None:
    """select(None / 5 / b'..' / 'a\\0b') raised TypeError or ValueError from the cell;
    a capture named '~copy.pcap' raised RuntimeError("Could not determine home directory")."""
    for bad in (None, 5, b"..", "a\0b"):
        widget.select(bad)
        assert widget.controls.error["message"] == f"{bad!r} is not a capture path."
    widget.controls.act("select", path="a\0b")
    assert widget.controls.error["message"] == "'a\\x00b' is not a path in the capture folder."
    (root / "~copy.pcap").write_bytes((root / "a.pcap").read_bytes())
    monkeypatch.chdir(root)
    widget.select("~copy.pcap")
    assert widget.controls.error == {} and widget.controls.selected == "~copy.pcap"
    widget.select("~nosuchuser/x.pcap")
    assert widget.controls.error["message"] == (
        "'~nosuchuser/x.pcap' starts with '~nosuchuser', a home directory that does not exist here."
    )


def test_run_needs_a_capture(widget: CaseWidget, fake: FakeSauce) -> None:
    widget.controls.act("run")
    assert widget.controls.error["message"] == "Choose a capture first."
    assert fake.analyze_calls == []


def test_select_shows_stored_result_notice(root: Path, tmp_path: Path) -> None:
    case = _case(tmp_path, _alerts(NMAP_ROWS))
    w = CaseWidget(root=root, sauce=FakeSauce(case, stored=case))
    try:
        w.controls.act("select", path="a.pcap")
        w.wait(10)
        assert w.controls.selected == "a.pcap" and w.controls.stored
        assert (
            "Already analysed on 2024-05-01 10:00 UTC with fake-rules" in w.controls.stored_notice
        )
        assert all(e["analysed"] for e in w.controls.entries if e["kind"] == "capture")
    finally:
        w.close()


def test_a_stored_result_is_loaded_into_the_grid_while_its_notice_is_read(
    root: Path, tmp_path: Path
) -> None:
    """Choosing an analysed capture fills the (off-page) grid's Table on the worker, so
    "Open stored result" only shows it; the click reuses that load."""
    case = _case(tmp_path, _alerts(NMAP_ROWS))
    w = CaseWidget(root=root, sauce=FakeSauce(case, stored=case))
    try:
        w.controls.act("select", path="a.pcap")
        w.wait(10)
        assert w.case is None and w.grid not in w.children
        ahead = w.controller._loaded
        assert ahead is not None and w.grid.table.size() == len(NMAP_ROWS)
        w.controls.act("run")
        w.wait(10)
        assert w.controller.view.alerts is ahead.alerts and w.grid in w.children
        assert len(w.alerts) == len(NMAP_ROWS) and w.controls.status.startswith("a.pcap: 8 alerts")
    finally:
        w.close()


def test_a_load_ahead_is_not_reused_for_other_ranges_or_a_rerun(root: Path, tmp_path: Path) -> None:
    case = _case(tmp_path, _alerts(NMAP_ROWS))
    fake = FakeSauce(case, stored=case)
    w = CaseWidget(root=root, sauce=fake)
    try:
        w.controls.act("select", path="a.pcap")
        w.wait(10)
        ahead = w.controller._loaded
        w.apply_ranges(exclude_src="10.42.0.0/16")  # before opening: the load is redone
        w.controls.act("run")
        w.wait(10)
        assert w.controller.view.alerts is not ahead.alerts and len(w.alerts) == 6
        assert w.grid.table.size() == 6
        # a re-run replaces the entry under the same key: a new analysed_at, a new load
        rerun = _case(tmp_path, _alerts(NMAP_ROWS[:2]))
        rerun.manifest["analysed_at"] = "2024-05-02T10:00:00+00:00"
        fake.case = rerun
        w.apply_ranges(exclude_src="")
        w.wait(10)
        w.run(rerun=True)
        w.wait(10)
        assert w.case is rerun and len(w.alerts) == 2 and w.grid.table.size() == 2
    finally:
        w.close()


def test_choosing_a_stored_capture_leaves_the_case_shown_alone(widget, fake, tmp_path) -> None:
    _run(widget)  # a case is on the page: its Table is what the grid shows
    fake.stored = _case(tmp_path, _alerts(NMAP_ROWS[:1]), name="other.pcap")
    widget.controls.act("select", path="sub/b.pcapng")
    widget.wait(10)
    assert widget.controls.stored and widget.grid.table.size() == len(NMAP_ROWS)
    assert len(widget.alerts) == len(NMAP_ROWS)


def test_a_big_tables_iocs_wait_until_the_browser_has_drawn_the_grid(
    root: Path, tmp_path: Path, monkeypatch
) -> None:
    """The IoC work holds the GIL for seconds on a million alerts: it waits until the
    grid's requests have stopped (or IOC_MAX_WAIT), so the grid is drawn first."""
    from jupyter_sauce.widget import controller as controller_module

    monkeypatch.setattr(grids, "SORT_LIMIT", 5)  # 8 alerts count as a big table
    monkeypatch.setattr(controller_module, "IOC_MAX_WAIT", 3.0)

    async def until(predicate, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.02)

    async def scenario() -> None:
        w = CaseWidget(root=root, sauce=FakeSauce(_case(tmp_path, _alerts(NMAP_ROWS))))
        panel = w.controller.ioc_panel
        try:
            w.controls.act("select", path="a.pcap")
            await until(lambda: w.controls.selected == "a.pcap")
            w.controls.act("run")
            await until(lambda: w.case is not None)
            assert panel.scope == (
                "Listing the addresses in the 8 alerts once the grid has drawn them."
            )
            for _ in range(8):  # the browser's grid asks for rows for 1.6 s
                w.controller._grid_message(w.grid, {"type": "binary_msg"}, [])
                last = time.monotonic()
                await asyncio.sleep(0.2)
            assert panel.rows == []
            await until(lambda: panel.rows)
            assert time.monotonic() - last >= controller_module.IOC_QUIET - 0.05
            assert {r["ip"] for r in panel.rows} >= {"194.61.24.102", "10.42.85.10"}
            # no browser drawing the grid at all: the IoCs come after IOC_MAX_WAIT
            w.apply_ranges(exclude_src="10.42.0.0/16")
            started = time.monotonic()
            await until(lambda: panel.scope.startswith("Listing"))
            await until(lambda: not panel.scope.startswith("Listing"))
            assert time.monotonic() - started >= 3.0 - 0.3
            assert {r["ip"] for r in panel.rows} == {"194.61.24.102", "10.42.85.10"}
        finally:
            w.close()

    asyncio.run(scenario())


def test_grid_drawn_after_quiet_or_max_wait() -> None:
    from jupyter_sauce.widget.controller import IOC_MAX_WAIT, IOC_QUIET, grid_drawn

    assert not grid_drawn(now=10.5, since=10.0, heard=0.0)  # nothing heard yet
    assert not grid_drawn(now=11.0, since=10.0, heard=10.9)  # still asking
    assert grid_drawn(now=11.0 + IOC_QUIET, since=10.0, heard=11.0)  # quiet since
    assert not grid_drawn(now=10.0 + IOC_QUIET + 1, since=10.0, heard=9.0)  # an older grid
    assert grid_drawn(now=10.0 + IOC_MAX_WAIT, since=10.0, heard=0.0)


# --- running --------------------------------------------------------------------------
def test_run_fills_grid_timeline_and_iocs(widget: CaseWidget, fake: FakeSauce) -> None:
    seen: list[dict] = []
    widget.controls.observe(lambda ch: seen.append(ch["new"]), names=["progress"])
    _run(widget)
    assert fake.analyze_calls[0]["rerun"] is False
    assert any(p.get("fraction") == 0.5 for p in seen), seen
    assert not widget.controls.running and widget.controls.error == {}
    assert widget.controls.status == "a.pcap: 8 alerts, 2 flows."  # the capture chosen
    assert widget.children.index(widget.grid) == 1
    assert widget.grid.binding_mode == "server"
    assert widget.grid.columns == grids.DEFAULT_COLUMNS
    assert widget.grid.sort == [["Timestamp", "desc"]]
    assert widget.grid.layout.height == "302px"  # 8 rows: no empty half-screen under them
    assert widget.grid.table.size() == 8
    assert {"HTTP User-Agent", "TLS SNI", "DNS Query", "Flow ID"} <= set(
        widget.grid.table.columns()
    )
    tl = widget.ranges_panel.timeline
    assert (
        sum(tl["all"]) == 8
        and sum(tl["shown"]) == 8
        and tl["start"].startswith("2020-09-19T02:20:55")
    )
    assert list(widget.iocs["ip"][:2]) == ["10.42.85.10", "194.61.24.102"]
    rows = {r["ip"]: r for r in widget.ioc_panel.rows}
    assert (
        rows["194.61.24.102"]["link"] == "https://www.virustotal.com/gui/ip-address/194.61.24.102"
    )
    assert rows["10.42.85.10"]["link"] is None  # private: no VirusTotal link
    assert widget.ioc_panel.global_count == 2
    assert len(widget.alerts) == 8 and len(widget.flows) == 2


def test_rerun_passes_rerun(widget: CaseWidget, fake: FakeSauce) -> None:
    _run(widget)
    widget.controls.act("rerun")
    widget.wait(10)
    assert [c["rerun"] for c in fake.analyze_calls] == [False, True]


def test_sauce_error_is_one_sentence_and_widget_stays_usable(widget, fake) -> None:
    fake.error = CaptureError("Capture 'a.pcap' is truncated.", "record 3 ends early")
    _run(widget)
    assert widget.controls.error == {
        "message": "Capture 'a.pcap' is truncated.",
        "details": "record 3 ends early",
    }
    assert not widget.controls.running and widget.controls.progress == {}
    assert widget.case is None
    fake.error = None
    widget.controls.act("dismiss")
    widget.controls.act("run")
    widget.wait(10)
    assert widget.controls.error == {} and widget.case is fake.case


def test_unexpected_error_shows_no_traceback(widget, fake, caplog) -> None:
    fake.error = ZeroDivisionError("division by zero")
    _run(widget)
    error = widget.controls.error
    assert error["message"] == "Something went wrong: ZeroDivisionError: division by zero."
    assert "Traceback" not in json.dumps(error)
    assert "last_exception" in error["details"]  # where to find it: kept, not lost
    assert isinstance(widget.controller.last_exception, ZeroDivisionError)
    # nothing at warning level or above: a kernel prints those into the cell's output
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_cancelled_run_is_a_notice(widget, fake) -> None:
    fake.error = Cancelled("Cancelled.")
    _run(widget)
    assert widget.controls.error == {}
    assert widget.controls.notices == ["The run was cancelled; nothing was stored."]


def test_cancel_says_cancelling_then_the_run_was_cancelled(widget, fake) -> None:
    fake.wait_for_cancel = True
    widget.controls.act("select", path="a.pcap")
    widget.wait(10)
    widget.controls.act("run")
    assert widget.controls.running and not widget.wait(0.3)  # still running
    widget.controls._on_msg(widget.controls, {"action": "cancel"}, [])  # as the browser sends it
    assert widget.controls.progress["message"].startswith("Cancelling")
    assert widget.wait(10)
    assert not widget.controls.running and widget.controls.progress == {}
    assert widget.controls.notices == ["The run was cancelled; nothing was stored."]
    assert widget.controls.error == {} and widget.case is None
    fake.wait_for_cancel = False  # still usable: the next run goes through
    widget.controls.act("run")
    widget.wait(10)
    assert widget.case is fake.case and len(fake.analyze_calls) == 2


def test_capture_removed_after_selection_shows_error_line(widget, fake, root) -> None:
    widget.controls.act("cd", path="sub")
    widget.controls.act("select", path="sub/b.pcapng")
    widget.wait(10)
    (root / "sub" / "b.pcapng").unlink()
    # the comm handler must not raise: the error goes to the widget's error line
    widget.controls._on_msg(widget.controls, {"action": "run"}, [])
    assert widget.controls.error["message"] == "'sub/b.pcapng' is not a file in the capture folder."
    assert fake.analyze_calls == [] and not widget.controls.running
    assert widget.controls.selected == "" and not widget.controls.stored  # Run is disabled
    assert [e["kind"] for e in widget.controls.entries] == ["up"]  # the listing is refreshed
    widget.controls.act("select", path="a.pcap")  # still usable
    widget.controls.act("run")
    widget.wait(10)
    assert widget.case is fake.case


def test_text_file_named_pcap_shows_error_line(widget) -> None:
    widget.controls.act("select", path="notes.pcap")
    widget.wait(10)
    assert "is a text file" in widget.controls.error["message"]
    widget.controls.act("cd", path="sub")  # still usable
    assert widget.controls.folder == "sub"


def test_bad_home_net_blocks_run(widget, fake) -> None:
    widget.controls.home_net = "10.0.0.0/8, 300.1.1.1"
    assert "'300.1.1.1'" in widget.controls.home_net_error
    widget.controls.act("select", path="a.pcap")
    widget.controls.act("run")
    assert "'300.1.1.1'" in widget.controls.error["message"]
    assert fake.analyze_calls == []


def test_no_alerts_state(root: Path, tmp_path: Path) -> None:
    w = CaseWidget(root=root, sauce=FakeSauce(_case(tmp_path, _alerts([]), "quiet.pcap")))
    try:
        _run(w)
        assert w.controls.empty_state.startswith("No alerts: Suricata raised no alerts on a.pcap")
        assert w.grid not in w.children
        assert w.ioc_panel.source == "hosts"
        assert {r["ip"] for r in w.ioc_panel.rows} == {
            "194.61.24.102", "10.42.85.10", "10.42.85.115", "203.78.103.109"}  # fmt: skip
        assert w.ioc_panel.scope == "Every host in the capture's 2 flows."
    finally:
        w.close()


# --- ranges ---------------------------------------------------------------------------
def test_bad_range_token_named_and_table_untouched(widget, fake) -> None:
    _run(widget)
    widget.ranges_panel.act("apply", exclude_src="10.42.0.0/16, 10.42.0.300")
    assert widget.ranges_panel.range_error == {
        "field": "exclude_src",
        "message": "'10.42.0.300' is not a valid address or CIDR range.",
    }
    widget.wait(10)
    assert widget.grid.table.size() == 8 and len(widget.alerts) == 8


def test_ranges_update_table_without_rerunning(widget, fake) -> None:
    _run(widget)
    widget.apply_ranges(exclude_src="10.42.0.0/16")
    widget.wait(10)
    assert widget.ranges_panel.range_error == {}
    assert widget.grid.table.size() == 6
    assert len(fake.analyze_calls) == 1
    assert widget.controls.status == "a.pcap: 6 of 8 alerts after the range filters, 2 flows."
    assert widget.ranges_panel.summary == "Keeping rows with source not in 10.42.0.0/16."
    assert sum(widget.ranges_panel.timeline["shown"]) == 6
    assert set(widget.alerts["src_ip"]) == {"194.61.24.102"}
    assert len(widget.flows) == 1
    widget.ranges_panel.act("clear")
    widget.wait(10)
    assert widget.grid.table.size() == 8 and widget.ranges_panel.exclude_src == ""
    with pytest.raises(TypeError):
        widget.apply_ranges(exclude_source="10.0.0.0/8")


# --- IoCs and the grid filter -----------------------------------------------------------
def test_iocs_follow_the_grid_filter(widget) -> None:
    _run(widget)
    widget.grid.filter = [["Alert", "==", "ET TROJAN C2"]]  # as the viewer syncs it back
    widget.wait(10)
    assert len(widget.alerts) == 1
    assert set(widget.iocs["ip"]) == {"10.42.85.115", "203.78.103.109"}
    assert "grid filter: Alert == ET TROJAN C2" in widget.ioc_panel.scope
    widget.grid.filter = [["Alert", "==", None]]  # a clause still being typed is ignored
    widget.wait(10)
    assert len(widget.alerts) == 8


def test_clicking_an_ip_filters_the_grid(widget) -> None:
    _run(widget)
    widget.ioc_panel.act("filter_ip", ip="203.78.103.109")
    widget.wait(10)
    assert widget.ioc_panel.ip_filter == "203.78.103.109"
    assert widget.grid.filter == [[grids.IOC_EXPRESSION, "==", True]]
    assert grids.IOC_EXPRESSION in widget.grid.expressions
    assert len(widget.alerts) == 1
    widget.ioc_panel.act("clear_ip")
    widget.wait(10)
    assert widget.grid.filter == [] and widget.ioc_panel.ip_filter == ""
    assert len(widget.alerts) == 8


def test_an_ip_filter_then_another_case_is_no_error(widget) -> None:
    """Clicking an IP, then analysing another capture, showed "The grid's filter cannot
    be applied (Invalid column 'IoC match' ...)": the expression was removed before the
    filter naming it, and the IoC refresh between the two saw the filter without it."""
    _run(widget)
    widget.filter_ip("203.78.103.109")
    widget.wait(10)
    assert len(widget.alerts) == 1
    _run(widget, "sub/b.pcapng")
    assert widget.ioc_panel.error == {} and widget.controls.error == {}
    assert widget.grid.filter == [] and widget.ioc_panel.ip_filter == ""
    assert len(widget.alerts) == 8


def test_a_good_ip_after_a_bad_one_clears_the_error_and_empty_clears_the_filter(
    widget,
) -> None:
    _run(widget)
    widget.filter_ip("zzz")
    assert widget.ioc_panel.error["message"].startswith("'zzz' is not an IP address")
    widget.filter_ip("203.78.103.109")
    widget.wait(10)
    assert widget.ioc_panel.error == {} and len(widget.alerts) == 1
    widget.filter_ip("zzz")
    widget.filter_ip(" ")
    widget.wait(10)
    assert widget.ioc_panel.error == {} and widget.ioc_panel.ip_filter == ""
    assert widget.grid.filter == [] and len(widget.alerts) == 8


def test_ip_filter_accepts_addresses_only() -> None:
    expressions, clause = grids.ip_filter(" 2001:DB8:0:0::1 ")
    assert expressions == {grids.IOC_EXPRESSION: (
        "\"Source IP\" == '2001:db8::1' or \"Destination IP\" == '2001:db8::1'")}  # fmt: skip
    assert clause == [grids.IOC_EXPRESSION, "==", True]
    for bad in ("10.0.0.1' or 'x", '10.0.0.1" or true or "', "10.0.0.0/8", "", None):
        with pytest.raises(InputError, match="is not an IP address, so the alerts cannot be"):
            grids.ip_filter(bad)


def test_clicking_a_non_address_shows_error_and_keeps_the_grid(widget) -> None:
    _run(widget)
    widget.ioc_panel.act("filter_ip", ip=" 203.78.103.109 ")  # canonical: whitespace is dropped
    widget.wait(10)
    assert widget.ioc_panel.ip_filter == "203.78.103.109" and len(widget.alerts) == 1
    before = (list(widget.grid.filter), dict(widget.grid.expressions))
    widget.ioc_panel._on_msg(widget.ioc_panel, {"action": "filter_ip", "ip": "x' or 'y"}, [])
    assert widget.ioc_panel.error["message"] == (
        "\"x' or 'y\" is not an IP address, so the alerts cannot be filtered to it."
    )
    assert (widget.grid.filter, widget.grid.expressions) == before
    assert widget.ioc_panel.ip_filter == "203.78.103.109" and len(widget.alerts) == 1


def test_ioc_source_toggle(widget) -> None:
    _run(widget)
    widget.ioc_panel.source = "hosts"
    widget.wait(10)
    assert [k for k, _ in widget.ioc_panel.columns][:3] == ["ip", "ip_class", "flows"]
    assert "bytes" in widget.iocs.columns


def test_virustotal_enriches_global_ips_only(widget, fake) -> None:
    _run(widget)
    assert "offline mode" in widget.ioc_panel.vt_status
    widget.ioc_panel.act("enrich")
    widget.wait(10)
    assert fake.enriched == [["194.61.24.102", "203.78.103.109"]]
    assert not widget.ioc_panel.vt_running
    assert widget.ioc_panel.vt_notices[0] == "No VirusTotal API key: offline reports only."
    row = widget.iocs.set_index("ip").loc["194.61.24.102"]
    assert row["malicious"] == 7 and row["country"] == "NL"
    shown = {r["ip"]: r for r in widget.ioc_panel.rows}
    assert shown["194.61.24.102"]["malicious"] == 7


def test_export_formats(widget, tmp_path: Path) -> None:
    _run(widget)
    for fmt in ("csv", "parquet", "json"):
        paths = widget.export(tmp_path / fmt, format=fmt)
        assert [p.name for p in paths] == [
            f"alerts.{fmt}", f"flows.{fmt}", f"iocs.{fmt}", "capture.json"]  # fmt: skip
    assert len(pd.read_parquet(tmp_path / "parquet" / "alerts.parquet")) == 8
    assert json.loads((tmp_path / "json" / "iocs.json").read_text())[0]["ip"] == "10.42.85.10"
    alerts = json.loads((tmp_path / "json" / "alerts.json").read_text())
    csv_alerts = pd.read_csv(tmp_path / "csv" / "alerts.csv")
    # the same instants in every format, to the microsecond (JSON used to round to ms)
    assert [pd.Timestamp(a["timestamp"]) for a in alerts] == list(
        pd.to_datetime(csv_alerts["timestamp"])
    )
    assert alerts[0]["timestamp"].endswith("Z") and len(alerts[0]["timestamp"]) == 27
    with pytest.raises(InputError):
        widget.export(tmp_path / "x", format="xlsx")
    (tmp_path / "afile").write_text("kept")
    with pytest.raises(InputError, match="afile' is a file, not a folder to write into"):
        widget.export(tmp_path / "afile")
    with pytest.raises(InputError, match="cannot be created: Not a directory"):
        widget.export(tmp_path / "afile" / "sub")
    assert (tmp_path / "afile").read_text() == "kept"


def test_export_never_overwrites_another_captures_export(widget, fake, tmp_path: Path) -> None:
    """w.export(folder) of capture B replaced capture A's export in the same folder."""
    with pytest.raises(InputError, match="^There is nothing to export yet; run or open"):
        widget.export(tmp_path / "early")
    _run(widget)
    widget.export(tmp_path / "out")
    widget.export(tmp_path / "out", format="parquet")  # the same capture: its own folder
    first = (tmp_path / "out" / "alerts.csv").read_bytes()
    other = _case(tmp_path, _alerts(NMAP_ROWS[:1]), name="other.pcap")
    other.manifest["capture"]["sha256"] = "1" * 64
    fake.case = other
    widget.run(rerun=True)
    widget.wait(10)
    assert len(widget.alerts) == 1
    with pytest.raises(InputError) as err:
        widget.export(tmp_path / "out")
    assert err.value.message == (
        f"{str(tmp_path / 'out')!r} holds other files or another capture's export; export "
        "into a new or empty folder, or the one this capture was exported to."
    )
    assert (tmp_path / "out" / "alerts.csv").read_bytes() == first
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("kept")
    with pytest.raises(InputError, match="holds other files"):
        widget.export(tmp_path / "mine")
    assert json.loads(widget.export(tmp_path / "b")[-1].read_text())["sha256"] == "1" * 64


def test_close_closes_owned_pipeline_only(root: Path, fake: FakeSauce) -> None:
    CaseWidget(root=root, sauce=fake).close()
    assert fake.closed is False  # shared pipelines are the caller's


# --- panels, magics, helpers ----------------------------------------------------------
def test_panel_messages_route_to_actions(widget) -> None:
    widget.controls._on_msg(widget.controls, {"action": "cd", "path": "sub"}, [])
    assert widget.controls.folder == "sub"
    widget.controls._on_msg(widget.controls, {"no": "action"}, [])  # logged and ignored
    with pytest.raises(KeyError):
        widget.controls.act("explode")


def test_magic_registration_and_usage(capsys) -> None:
    registered = {}

    class Shell:
        user_ns: dict = {}

        def register_magic_function(self, fn, magic_kind, magic_name):
            registered[magic_name] = (fn, magic_kind)

    load_ipython_extension(Shell())
    assert registered["sauce"][1] == "line"
    import jupyter_sauce

    assert callable(jupyter_sauce.load_ipython_extension)
    sauce_magic("--bogus x y", None)
    assert "Usage: %sauce" in capsys.readouterr().out
    # a name the widget cannot be bound to was silently not bound
    for name in ("1x", "''", "class"):
        sauce_magic(f"--name {name}", None)
        shown = name if name != "''" else ""
        assert capsys.readouterr().out.startswith(f"--name {shown!r} is not a Python name. ")
    # ... or one that hides Python's own names: `--name __builtins__` broke every later cell
    for name in ("__builtins__", "print", "__name__"):
        sauce_magic(f"--name {name}", None)
        assert capsys.readouterr().out.startswith(
            f"--name {name!r} would hide Python's own {name}; choose another. Usage: %sauce"
        )


def test_error_payload_of_sauce_error() -> None:
    assert error_payload(CaptureError("Bad.", "why")) == {"message": "Bad.", "details": "why"}


def test_timeline_uses_capture_time_range() -> None:
    alerts = _alerts(NMAP_ROWS)
    tl = timeline(alerts, alerts.iloc[:2], T0.timestamp() - 60, T0.timestamp() + 60, bins=12)
    assert tl["start"] == "2020-09-19T02:20:00.000+00:00" and len(tl["all"]) == 12
    assert tl["all"][6] == 8 and tl["shown"][6] == 2
    empty = timeline(alerts.iloc[:0], alerts.iloc[:0], None, None)
    assert empty["all"] == [] and empty["start"] is None
    # a damaged capture's times past the year 9999 crashed the widget ("year 33658 is out
    # of range"): the timeline is drawn without dates instead
    late = timeline(alerts.iloc[:0], alerts.iloc[:0], 1e12, 1e12 + 60, bins=12)
    assert (late["start"], late["end"], len(late["all"])) == ("", "", 12)


# --- the real pipeline ------------------------------------------------------------------
NMAP = PCAPS / "esnet-curated" / "nmap_80_all.pcap"


@pytest.mark.corpus
def test_real_pipeline_nmap(tmp_path: Path) -> None:
    import shutil

    if not (NMAP.is_file() and ET_OPEN.is_dir()) or shutil.which("suricata") is None:
        pytest.skip("needs the corpus (nmap_80_all.pcap, ET Open) and Suricata")
    from traitlets.config import Config

    config = Config()
    config.StoreConfig.store_dir = str(tmp_path / "store")
    config.RulesConfig.rules = str(ET_OPEN)
    config.SuricataConfig.warm = False
    w = CaseWidget(NMAP, config=config)
    try:
        assert w.controls.selected == "nmap_80_all.pcap"
        w.run()
        assert w.wait(300)
        assert w.error == {}, w.error
        assert len(w.case.alerts) == 28 and w.grid.table.size() == 28
        assert "ET SCAN Possible Nmap User-Agent Observed" in set(w.alerts["signature"])
        assert set(w.iocs["ip"]) == {"10.87.1.10", "130.211.223.103"}
    finally:
        w.close()


def test_ruleset_and_home_net_typed_in_the_widget_reach_the_analysis(widget, fake) -> None:
    widget.controls.act("select", path="a.pcap")
    widget.controls.rules = "  /rules/other  "
    widget.controls.home_net = "10.42.0.0/16, 192.168.0.0/24"
    widget.wait(10)
    assert widget.controls.rules_label == "other (3 rules)"
    widget.controls.act("run")
    widget.wait(10)
    call = fake.analyze_calls[-1]
    assert (call["rules"], call["home_net"]) == ("/rules/other", "10.42.0.0/16, 192.168.0.0/24")
    widget.controls.home_net = "10.42.0.0/33"  # a bad HOME_NET: shown, and Run refuses it
    assert widget.error["message"].startswith("HOME_NET: '10.42.0.0/33'")
    widget.controls.act("run")
    assert len(fake.analyze_calls) == 1


def test_a_bad_range_is_the_widgets_error_in_python(widget) -> None:
    _run(widget)
    widget.apply_ranges(exclude_src="10.0.0.0/8 bogus")
    widget.wait(10)
    assert widget.error == {"message": widget.ranges_panel.range_error["message"], "details": ""}
    assert "'bogus'" in widget.error["message"] and len(widget.alerts) == len(NMAP_ROWS)
    with pytest.raises(TypeError, match="exclude_src must be a string of ranges, not NoneType"):
        widget.apply_ranges(exclude_src=None)


def test_a_grid_filter_on_a_missing_column_is_one_sentence(widget) -> None:
    """Bug: ``w.grid.filter = [["Nope", "==", "x"]]`` showed "Something went wrong:
    PyPerspectiveError: Abort(): ..." and ``w.alerts`` raised Perspective's own error."""
    _run(widget)
    widget.grid.filter = [["Nope", "==", "x"]]
    widget.wait(10)
    message = "The grid's filter cannot be applied (Filter column not in schema: Nope)."
    assert widget.ioc_panel.error["message"] == message
    with pytest.raises(InputError) as err:
        widget.alerts  # noqa: B018
    assert err.value.message == message
    for bad in ([["Source IP", "==", "10.0.0.1", "x", "y"]], [["Alert", "==", {"a": 1}]]):
        widget.grid.filter = bad  # shapes Perspective refuses with other exception types
        widget.wait(10)
        assert widget.ioc_panel.error["message"].startswith("The grid's filter cannot be")
        with pytest.raises(InputError):
            widget.alerts  # noqa: B018
    widget.grid.filter = []  # and it recovers
    widget.wait(10)
    assert len(widget.alerts) == len(NMAP_ROWS)


def test_an_action_the_kernel_does_not_know_is_an_error_line(widget) -> None:
    widget.controls._on_msg(widget.controls, {"action": "explode"}, [])
    assert "cannot run ('explode')" in widget.controls.error["message"]
    widget.controls._on_msg(widget.controls, {"action": "select", "nope": 1}, [])
    assert "cannot run ('select')" in widget.controls.error["message"]
    widget.controls._on_msg(widget.controls, {"action": "select", "path": "a.pcap"}, [])
    widget.wait(10)
    assert widget.controls.error == {} and widget.controls.selected == "a.pcap"


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_bad_root_makes_no_widget_and_leaves_nothing_behind(tmp_path, fake, capfd) -> None:
    """Bug: ``CaseWidget(root="/nonexistent")`` raised, then garbage collection printed an
    AttributeError traceback from Widget.__del__ into some later cell's output."""
    import gc

    with pytest.raises(InputError, match="does not exist"):
        CaseWidget(root=tmp_path / "nonexistent", sauce=fake)
    (tmp_path / "file.pcap").write_bytes(b"x")
    with pytest.raises(InputError, match="file.pcap' is not a folder"):
        CaseWidget(root=tmp_path / "file.pcap", sauce=fake)
    gc.collect()
    assert "Traceback" not in capfd.readouterr().err and not fake.closed  # not ours to close


def test_the_table_is_loaded_off_the_event_loop_and_a_failed_rerun_keeps_the_grid(
    widget, fake
) -> None:
    """The perspective Table is filled on the worker (a million alerts take a second: not
    on the kernel's event loop); the grid goes on the page with the result."""
    loaders = []
    real_load = widget.controller._load
    widget.controller._load = lambda *a, **k: (
        loaders.append(threading.current_thread()) or (real_load(*a, **k))
    )
    fake.wait_for_cancel = True
    widget.controls.act("select", path="a.pcap")
    widget.wait(10)
    widget.controls.act("run")
    assert widget.grid not in widget.children  # not before there is something to show
    widget.cancel()
    assert widget.wait(10) and widget.grid not in widget.children
    fake.wait_for_cancel = False
    widget.controls.act("run")
    widget.wait(10)
    assert widget.grid in widget.children and widget.grid.table.size() == len(NMAP_ROWS)
    assert loaders and all(t is not threading.main_thread() for t in loaders)
    fake.error = CaptureError("The capture changed.")
    widget.controls.act("rerun")
    widget.wait(10)
    assert widget.controls.error["message"] == "The capture changed."
    assert widget.grid in widget.children and len(widget.alerts) == len(NMAP_ROWS)  # kept


def test_grid_table_is_compact_and_lossless() -> None:
    import perspective

    alerts = _alerts(NMAP_ROWS)
    alerts["flow_id"] = pd.array([2**50 + i for i in range(len(alerts))], "int64[pyarrow]")
    alerts.loc[0, "signature_id"] = 3_000_000_000  # a sid past int32 (Suricata's are u32)
    half = len(alerts) // 2  # columns in several chunks, as read from a big Parquet file
    chunked = pa.concat_tables(
        [
            pa.Table.from_pandas(alerts.iloc[:half], preserve_index=False),
            pa.Table.from_pandas(alerts.iloc[half:], preserve_index=False),
        ]
    )
    alerts = chunked.to_pandas(types_mapper=pd.ArrowDtype)  # fmt: skip
    assert chunked.column("src_ip").num_chunks == 2
    table = grids.grid_table(alerts)
    types = dict(zip(table.column_names, table.schema.types, strict=True))
    assert types["Source Port"] == pa.int32() and types["Priority"] == pa.int32()
    assert types["Flow ID"] == pa.int64() and types["SID"] == pa.int64()  # values need it
    assert types["Alert"] == pa.dictionary(pa.int8(), pa.string())
    loaded = perspective.Server().new_local_client().table(grids.to_ipc(table))
    view = loaded.view(sort=[["Row", "asc"]])
    got = view.to_columns()
    assert got["Flow ID"] == list(alerts["flow_id"])
    assert got["SID"][0] == 3_000_000_000 and got["Source Port"] == list(alerts["src_port"])
    assert got["Alert"] == list(alerts["signature"]) and got["HTTP URL"] == [None] * len(alerts)
    view.delete()


def test_a_stored_result_of_a_copy_is_shown_under_the_name_chosen(tmp_path: Path) -> None:
    """Bug: a student opening the teacher's stored result from a renamed copy saw the
    teacher's file name in the status line."""
    import shutil

    if shutil.which("suricata") is None:
        pytest.skip("needs Suricata")
    from captures import demo
    from traitlets.config import Config

    config = Config()
    config.StoreConfig.store_dir = str(tmp_path / "store")
    config.RulesConfig.rules = "starter"
    with Sauce(config) as sauce:
        sauce.analyze(demo(tmp_path / "teacher.pcap"))
        (tmp_path / "class").mkdir()
        copy = demo(tmp_path / "class" / "evidence copy.pcap")
        w = CaseWidget(copy, sauce=sauce)
        try:
            w.wait(30)
            assert w.controls.stored
            w.run()
            w.wait(30)
            assert w.case.reused and w.case.capture["name"] == "teacher.pcap"
            assert w.controls.status == "evidence copy.pcap: 5 alerts, 31 flows."
            w.apply_ranges(exclude_src="10.42.0.0/16")
            w.wait(30)
            assert w.controls.status.startswith("evidence copy.pcap: 4 of 5 alerts")
        finally:
            w.close()


def test_ranges_applied_during_a_run_never_show_the_previous_case(widget, fake, tmp_path) -> None:
    """Bug: Apply while a run was going loaded the previous capture's alerts into the grid
    after the new capture's (the status said one capture, the grid showed the other), and
    a grid filter then failed with IndexError."""
    _run(widget)  # case A: NMAP_ROWS
    other = _case(tmp_path, _alerts(NMAP_ROWS[:2]), "other.pcap")
    fake.case, fake.hold = other, threading.Event()
    widget.controls.act("run")  # case B, held in analyze()
    widget.apply_ranges(exclude_src="192.0.2.0/24")  # queued behind the run
    fake.hold.set()
    assert widget.wait(10)
    assert widget.case is other and widget.controls.status == "a.pcap: 2 alerts, 2 flows."
    assert widget.grid.table.size() == 2 and len(widget.alerts) == 2  # B's rows, not A's
    assert widget.ranges_panel.summary == "Keeping rows with source not in 192.0.2.0/24."
    widget.grid.filter = [["Source IP", "==", NMAP_ROWS[0][1]]]
    widget.wait(10)
    assert widget.error == {} and len(widget.alerts) == 2


def test_work_asked_of_a_closed_widget_is_one_clear_error(widget: CaseWidget) -> None:
    """w.run() after w.close() raised "RuntimeError: cannot schedule new futures after
    shutdown"."""
    widget.controls.act("select", path="a.pcap")
    widget.wait(10)
    widget.close()
    with pytest.raises(WidgetClosed, match=r"^This CaseWidget was closed; make a new one"):
        widget.run()


def test_export_needs_a_folder_name(widget) -> None:
    """w.export("") wrote into the working directory; w.export(5) was a bare TypeError."""
    _run(widget)
    with pytest.raises(InputError, match=r"^The folder name is empty; give a folder"):
        widget.export("")
    with pytest.raises(InputError, match=r"^5 is not a folder path\.$"):
        widget.export(5)


def test_the_widget_is_importable_from_the_package_without_loading_it_for_the_core() -> None:
    code = (
        "import sys, jupyter_sauce\n"
        "assert 'ipywidgets' not in sys.modules\n"
        "from jupyter_sauce import CaseWidget\n"
        "from jupyter_sauce.widget import CaseWidget as W\n"
        "assert CaseWidget is W\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
