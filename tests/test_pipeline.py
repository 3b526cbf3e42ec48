"""The pipeline on captures the tests make: store keys, caching, atomicity, locking, ranges."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from captures import demo, http_records, pcap_bytes, write
from traitlets.config import Config

from jupyter_sauce.errors import CaptureError, RangeError, RulesError
from jupyter_sauce.networks import RangeFilter
from jupyter_sauce.pipeline import Sauce
from jupyter_sauce.store import CaseStore, StoreNotWritable

pytestmark = pytest.mark.skipif(shutil.which("suricata") is None, reason="suricata is not on PATH")
REPO = Path(__file__).resolve().parents[1]


def make_sauce(store: Path, **suricata) -> Sauce:
    cfg = Config()
    cfg.StoreConfig.store_dir = str(store)
    cfg.RulesConfig.rules = "starter"
    for k, v in suricata.items():
        setattr(cfg.SuricataConfig, k, v)
    return Sauce(cfg)


@pytest.fixture
def sauce(tmp_path: Path):
    s = make_sauce(tmp_path / "store")
    yield s
    s.close()


def test_demo_case(sauce: Sauce, tmp_path: Path) -> None:
    case = sauce.analyze(demo(tmp_path / "demo.pcap"))
    a = case.alerts
    assert set(a["signature_id"]) == {9000001, 9000002, 9000003, 9000004}
    nmap = a[a["signature_id"] == 9000001]
    assert set(nmap["src_ip"]) == {"194.61.24.102"} and set(nmap["dest_ip"]) == {"10.42.85.10"}
    assert str(a["timestamp"].dtype) == "timestamp[us, tz=UTC][pyarrow]"
    assert case.manifest["counts"]["alerts"] == len(a)
    assert case.manifest["options"]["home_net"] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    assert case.ruleset["source"] == "starter"
    for name in ("eve.json", "fast.log", "alerts.parquet", "flows.parquet", "manifest.json"):
        assert case.path(name).is_file()
    assert len(case.flows) > 10
    excluded = RangeFilter.from_strings(exclude_src="194.61.24.0/24").apply(a)
    assert set(excluded["signature_id"]) == {9000004}


def test_cache_is_keyed_by_content(sauce: Sauce, tmp_path: Path) -> None:
    first = sauce.analyze(demo(tmp_path / "a.pcap"))
    renamed = sauce.analyze(demo(tmp_path / "renamed copy.pcap"))
    assert renamed.key == first.key
    assert renamed.manifest["analysed_at"] == first.manifest["analysed_at"]
    other = sauce.analyze(write(tmp_path / "a.pcap", pcap_bytes(http_records())))
    assert other.key != first.key
    assert sauce.is_analysed(tmp_path / "renamed copy.pcap")
    home = sauce.analyze(tmp_path / "renamed copy.pcap", home_net="10.42.0.0/16")
    assert home.key != first.key and home.manifest["options"]["home_net"] == ["10.42.0.0/16"]


def test_reopen_is_fast_and_needs_no_suricata(sauce: Sauce, tmp_path: Path) -> None:
    cap = demo(tmp_path / "demo.pcap")
    case = sauce.analyze(cap)
    reopened = sauce.open(cap)
    assert reopened is not None and reopened.key == case.key
    assert reopened.alerts.equals(case.alerts)
    assert sauce.open(write(tmp_path / "new.pcap", pcap_bytes(http_records()))) is None


def test_cold_fallback_equals_warm(tmp_path: Path) -> None:
    cap = demo(tmp_path / "demo.pcap")
    with make_sauce(tmp_path / "s1") as warm, make_sauce(tmp_path / "s2", warm=False) as cold:
        w, c = warm.analyze(cap), cold.analyze(cap)
    assert (w.manifest["engine"]["name"], c.manifest["engine"]["name"]) == ("warm", "cold")
    cols = ["timestamp", "signature_id", "src_ip", "dest_ip", "src_port", "dest_port"]
    assert w.alerts[cols].equals(c.alerts[cols])


def test_broken_warm_engine_falls_back_to_cold(sauce: Sauce, tmp_path: Path) -> None:
    cap = demo(tmp_path / "demo.pcap")
    sauce.analyze(write(tmp_path / "x.pcap", pcap_bytes(http_records())))
    assert sauce.engine_state()["warm"]
    dead = sauce.warm_slot.engine.proc
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait()
    case = sauce.analyze(cap)
    # the dead engine is noticed before use and a new one started
    assert case.manifest["engine"]["name"] == "warm"
    assert sauce.warm_slot.engine.proc.pid != dead.pid
    assert len(case.alerts) == 5


def test_bad_inputs(sauce: Sauce, tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="is a directory"):
        sauce.analyze(tmp_path)
    with pytest.raises(CaptureError, match="does not exist"):
        sauce.analyze(tmp_path / "missing.pcap")
    with pytest.raises(CaptureError, match="looks like a text file"):
        sauce.analyze(write(tmp_path / "notes.pcap", b"hello\n"))
    cap = demo(tmp_path / "demo.pcap")
    with pytest.raises(RangeError, match="'10.0.0.0/33'"):
        sauce.analyze(cap, home_net="10.0.0.0/33")
    with pytest.raises(RulesError, match="does not exist"):
        sauce.analyze(cap, rules=str(tmp_path / "nope"))
    with pytest.raises(RulesError, match="holds no .rules files"):
        sauce.analyze(cap, rules=str(tmp_path))


@pytest.mark.parametrize(
    "name", ["with space.pcap", "quote'\"s.pcap", "ünï cødé.pcap", "-leading-dash.pcap"]
)
def test_odd_file_names(sauce: Sauce, tmp_path: Path, name: str) -> None:
    case = sauce.analyze(demo(tmp_path / name))
    assert len(case.alerts) == 5 and case.capture["name"] == name


def test_odd_file_names_cold(tmp_path: Path) -> None:
    with make_sauce(tmp_path / "s", warm=False) as s:
        case = s.analyze(demo(tmp_path / "-x 'q' ü.pcap"))
    assert len(case.alerts) == 5


def test_unwritable_store(tmp_path: Path) -> None:
    blocker = write(tmp_path / "file", b"x")
    with pytest.raises(StoreNotWritable, match="is not writable"):
        CaseStore(blocker / "store")


def _analyze_in_child(store: str, cap: str, queue) -> None:
    with make_sauce(Path(store), warm=False) as s:
        case = s.analyze(cap)
        queue.put((case.key, case.manifest["analysed_at"], case.manifest["timings"]))


def test_two_identical_runs_make_one_suricata_run(tmp_path: Path) -> None:
    cap = demo(tmp_path / "demo.pcap")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_analyze_in_child, args=(str(tmp_path / "s"), str(cap), queue))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    (k1, t1, m1), (k2, t2, m2) = results
    assert k1 == k2 and t1 == t2 and m1 == m2  # the second reused the first's entry
    assert len(CaseStore(tmp_path / "s").keys()) == 1


def test_killed_run_leaves_no_half_entry(tmp_path: Path) -> None:
    """SIGKILL the analysing process mid-run: no entry, and the next run sweeps the leftovers."""
    big = tmp_path / "big.pcap"
    records = http_records() * 4000
    write(big, pcap_bytes(records))
    store = tmp_path / "s"
    code = (
        "import sys; from traitlets.config import Config\n"
        "from jupyter_sauce.pipeline import Sauce\n"
        "c = Config(); c.StoreConfig.store_dir = sys.argv[1]; c.RulesConfig.rules = 'starter'\n"
        "c.SuricataConfig.warm = False\n"
        "Sauce(c).analyze(sys.argv[2])\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(store), str(big)], start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any((store / "tmp").glob("*/suricata.yaml")):
        time.sleep(0.05)
    started = any((store / "tmp").glob("*/suricata.yaml"))
    running = proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)
    assert started and running, "not killed in the middle of a run"
    proc.wait()
    assert CaseStore(store).keys() == []
    assert list((store / "tmp").iterdir()) == []


def test_manifest_is_json_with_timings(sauce: Sauce, tmp_path: Path) -> None:
    case = sauce.analyze(demo(tmp_path / "demo.pcap"))
    manifest = json.loads(case.path("manifest.json").read_text())
    assert manifest["engine"]["suricata"].startswith("7.")
    assert {"suricata_s", "parse_s", "total_s"} <= set(manifest["timings"])
    assert manifest["capture"]["sha256"] == case.capture["sha256"]


def test_suricata_failing_shows_its_log_tail(tmp_path: Path) -> None:
    """Real Suricata, started with a runmode it does not know: the error carries its words."""
    wrapper = tmp_path / "suricata-bad"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("suricata")} --runmode=nonsense "$@"\n')
    wrapper.chmod(0o755)
    from jupyter_sauce.errors import EngineError

    with (
        make_sauce(tmp_path / "s", suricata_path=str(wrapper)) as s,
        pytest.raises(EngineError) as err,
    ):
        s.analyze(demo(tmp_path / "demo.pcap"))
    assert err.value.message.startswith("Suricata failed with exit code")
    assert "nonsense" in err.value.details
    assert CaseStore(tmp_path / "s").keys() == []


def test_reused_flag_and_home_net_hint(sauce: Sauce, tmp_path: Path) -> None:
    cap = write(tmp_path / "benign.pcap", pcap_bytes(http_records(ua="curl-like/1.0")))
    case = sauce.analyze(cap, home_net="10.99.0.0/16")
    assert not case.reused and case.alerts.empty
    assert any(
        "No address in the capture is inside HOME_NET (10.99.0.0/16)" in n for n in case.notices
    )
    assert sauce.analyze(cap, home_net="10.99.0.0/16").reused
    inside = sauce.analyze(cap, home_net="10.42.0.0/16")
    assert not any("inside HOME_NET" in n for n in inside.notices)


def test_eve_records_and_app_layer_context(sauce: Sauce, tmp_path: Path) -> None:
    """The generated config logs alert, flow, http, dns, tls and fileinfo records, and each
    alert carries its app-layer context (the TLS one needs a transaction-bound rule)."""
    case = sauce.analyze(demo(tmp_path / "demo.pcap"))
    types = {json.loads(line)["event_type"] for line in case.path("eve.json").open()}
    assert {"alert", "flow", "http", "dns", "tls", "fileinfo"} <= types
    by_sid = {int(r.signature_id): r for r in case.alerts.itertuples()}
    nmap, exe, tls = by_sid[9000001], by_sid[9000002], by_sid[9000004]
    assert nmap.http_hostname == "10.42.85.10" and "Nmap Scripting Engine" in nmap.http_user_agent
    assert exe.http_url.endswith(".exe")
    assert tls.tls_sni == "update.coreupdater.example" and tls.app_proto == "tls"
    flows = case.flows
    assert set(flows["app_proto"].dropna()) >= {"http", "tls", "dns"}


def test_anomaly_records_on_a_damaged_capture(sauce: Sauce, tmp_path: Path) -> None:
    """A packet cut short inside its TCP header is a decoder anomaly in eve.json."""
    from jupyter_sauce import eve

    records = http_records()
    first = records[0]
    # Ethernet + IPv4 + 8 of the 20 TCP header bytes
    records[0] = dataclasses.replace(first, data=first.data[: 14 + 20 + 8])
    case = sauce.analyze(write(tmp_path / "cut.pcap", pcap_bytes(records)))
    assert eve.parse_file(case.path("eve.json")).event_counts.get("anomaly", 0) >= 1


def test_broken_socket_mode_falls_back_to_cold_and_says_so(tmp_path: Path) -> None:
    """A Suricata whose unix-socket mode fails: the run is cold, with a notice."""
    wrapper = tmp_path / "suricata-no-socket"
    wrapper.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in --unix-socket*) '
        'echo "socket mode refused for this test" >&2; exit 1;; esac; done\n'
        f'exec {shutil.which("suricata")} "$@"\n'
    )
    wrapper.chmod(0o755)
    with make_sauce(tmp_path / "s", suricata_path=str(wrapper)) as s:
        case = s.analyze(demo(tmp_path / "demo.pcap"))
        assert case.manifest["engine"]["name"] == "cold"
        assert any(n.startswith("The warm engine failed") and "cold" in n for n in case.notices)
        assert len(case.alerts) == 5
        assert not s.engine_state()["warm"]


def _big_capture(path: Path, packets: int) -> Path:
    """Many small UDP datagrams between two hosts (a capture Suricata needs a while to read)."""
    import struct

    eth = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00"
    payload = b"x" * 64
    udp = struct.pack(">HHHH", 40000, 9999, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([10, 42, 1, 5]), bytes([10, 42, 1, 6]))  # fmt: skip
    frame = eth + ip + udp
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    parts = [header]
    for i in range(packets):
        parts.append(
            struct.pack("<IIII", 1_600_000_000 + i // 1000, i % 1000, len(frame), len(frame))
        )
        parts.append(frame)
    path.write_bytes(b"".join(parts))
    return path


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_progress_reports_bytes_read_while_suricata_runs(tmp_path: Path, warm: bool) -> None:
    cap = _big_capture(tmp_path / "big.pcap", 600_000)
    size = cap.stat().st_size
    events = []
    with make_sauce(tmp_path / "s", warm=warm) as s:
        s.analyze(cap, progress=events.append)
    reading = [e for e in events if e.phase == "suricata"]
    assert reading and all(e.total == size for e in reading)
    assert any(0 < e.done < size for e in reading), [e.done for e in reading]
    done = [e.done for e in reading]
    assert done == sorted(done) and done[-1] == size


def test_a_rule_that_fails_to_load_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.rules").write_text(
        "# my rules\n"
        'alert http any any -> any any (msg:"mine Nmap UA"; http.user_agent; content:"Nmap";'
        " sid:1000001; rev:1;)\n"
    )
    (rules / "b.rules").write_text(
        "# more\n"
        'alert tcp any any -> any any (msg:"broken"; no_such_keyword; sid:1000002; rev:1;)\n'
    )
    for warm in (True, False):
        with make_sauce(tmp_path / f"s-{warm}", warm=warm) as s:
            case = s.analyze(demo(tmp_path / "demo.pcap"), rules=str(rules))
        load = case.manifest["ruleset"]["load"]
        assert (load["loaded"], load["failed"]) == (1, 1), load
        # named by the file and line the user wrote, not the combined file Suricata read
        assert load["failed_rules"][0].startswith("b.rules line 2: "), load
        assert "no_such_keyword" in load["failed_rules"][0]
        warning = next(w for w in case.warnings if "failed to load" in w)
        assert warning.startswith("1 rule(s) failed to load (first: b.rules line 2: ")
        assert set(case.alerts["signature_id"]) == {1000001}


def test_a_teachers_shared_store_serves_students_without_suricata(tmp_path: Path) -> None:
    """Hub set-up: the teacher analyses the class capture once into a shared store; each
    student's Sauce finds it there (read only) and runs no Suricata."""
    (tmp_path / "class").mkdir()
    cap = demo(tmp_path / "class" / "szechuan.pcap")
    teacher_store = tmp_path / "teacher"
    with make_sauce(teacher_store) as teacher:
        original = teacher.analyze(cap)
    cfg = Config()
    cfg.StoreConfig.store_dir = str(tmp_path / "student")
    cfg.StoreConfig.shared_store_dirs = [str(teacher_store)]
    cfg.RulesConfig.rules = "starter"
    student_copy = tmp_path / "student-files" / "renamed.pcap"
    student_copy.parent.mkdir()
    shutil.copy(cap, student_copy)
    before = {p: p.stat().st_mtime_ns for p in teacher_store.rglob("*")}
    with Sauce(cfg) as student:
        assert student.open(student_copy) is not None
        case = student.analyze(student_copy)
        assert case.reused and case.key == original.key
        assert case.entry_dir.is_relative_to(teacher_store)
        assert (
            len(case.alerts) == 5
            and case.manifest["analysed_at"] == original.manifest["analysed_at"]
        )
        assert student.is_analysed(student_copy)
        assert student.engine_state()["warm"] is False  # no Suricata was started
        assert student.stored(case.key)
        # a re-run is the student's own, in the student's store
        again = student.analyze(student_copy, rerun=True)
        assert again.entry_dir.is_relative_to(tmp_path / "student") and not again.reused
    assert CaseStore(tmp_path / "student").keys() == [original.key]
    assert {p: p.stat().st_mtime_ns for p in teacher_store.rglob("*")} == before  # untouched


def test_a_shared_store_that_is_not_one_is_named_and_passed_over(tmp_path: Path) -> None:
    """Bug: a shared store that was not mounted (or not readable) stopped every command,
    even a student's own analysis; now it is named in a note and not used."""
    cfg = Config()
    cfg.StoreConfig.store_dir = str(tmp_path / "mine")
    cfg.RulesConfig.rules = "starter"
    cfg.StoreConfig.shared_store_dirs = [str(tmp_path / "nowhere")]
    with Sauce(cfg) as s:
        assert (
            len(s.notes) == 1 and "nowhere' (StoreConfig.shared_store_dirs) has no " in (s.notes[0])
        )
        assert len(s.analyze(demo(tmp_path / "d.pcap")).alerts) == 5


def test_damaged_entries_count_as_missing_and_are_remade(tmp_path: Path) -> None:
    """Bug: a hand-edited manifest (wrong types), frames of the wrong table or a damaged
    hash record broke every reader (CLI KeyErrors, REST runs stuck 'running', listings
    failing) instead of the entry being analysed again."""
    cap = demo(tmp_path / "d.pcap")
    with make_sauce(tmp_path / "s") as s:
        first = s.analyze(cap)
        entry = first.entry_dir
        damage = [
            lambda m: m.update(capture="oops"),
            lambda m: m.update(options=[]),
            lambda m: m["engine"].pop("name"),
            lambda m: m.update(warnings=5),
        ]
        for change in damage:
            manifest = json.loads((entry / "manifest.json").read_text())
            change(manifest)
            (entry / "manifest.json").write_text(json.dumps(manifest))
            assert not s.store.has(first.key)
            again = s.analyze(cap)  # remade, not reused
            assert not again.reused and len(again.alerts) == 5
        shutil.copy(entry / "flows.parquet", entry / "alerts.parquet")  # the wrong table
        assert not s.store.has(first.key) and not s.analyze(cap).reused
        record = s.store._hash_record(cap)
        for bad in (["x"], {"a": 1}, "../../etc/passwd"):
            data = json.loads(record.read_text())
            record.write_text(json.dumps({**data, "sha256": bad}))
            assert s.store.known_sha256(cap) is None  # hashed again instead
            assert s.is_analysed(cap) is False and s.open(cap).key == first.key
        assert s.store.has_capture("../../etc") is False


def test_a_ruleset_whose_rules_all_fail_is_a_warning_not_a_clean_run(tmp_path: Path) -> None:
    """Bug: when no rule loaded, Suricata printed no summary line and the run looked clean."""
    bad = tmp_path / "allbad"
    bad.mkdir()
    (bad / "a.rules").write_text(
        'alert tcp any any -> any any (msg:"b"; sid:1; garbage:;)\nalert foo any any\n'
    )
    for warm in (True, False):
        with make_sauce(tmp_path / f"s-{warm}", warm=warm) as s:
            case = s.analyze(demo(tmp_path / "demo.pcap"), rules=str(bad))
        text = " ".join(case.warnings)
        assert "None of the 2 rule(s) of the ruleset loaded (first: a.rules line 1" in text, text
        assert case.alerts.empty


def test_an_engine_in_use_is_not_stopped_for_other_settings(tmp_path: Path) -> None:
    """Bug: a second analysis with another HOME_NET on the same Sauce (two widgets in one
    kernel, or the server with max_concurrent_runs=2) stopped the warm engine under the
    first one, which then failed with a bare AssertionError."""
    import threading

    cap = demo(tmp_path / "demo.pcap")
    holding, release = threading.Event(), threading.Event()
    results: dict = {}

    def first_progress(p) -> None:
        if p.phase == "suricata":  # inside the warm engine, reading the capture
            holding.set()
            assert release.wait(60)

    def first() -> None:
        results["first"] = s.analyze(cap, home_net="10.42.0.0/16", progress=first_progress)

    with make_sauce(tmp_path / "s") as s:
        thread = threading.Thread(target=first)
        thread.start()
        try:
            assert holding.wait(60)
            second = s.analyze(cap, home_net="10.0.0.0/8")  # meanwhile, other settings
        finally:
            release.set()
            thread.join(60)
        assert second.manifest["engine"]["name"] == "cold"
        assert "The warm engine was busy with other rules or HOME_NET" in second.notices[0]
        case = results["first"]
        assert case.manifest["engine"]["name"] == "warm" and not case.notices
        assert len(case.alerts) == len(second.alerts) == 5
        assert s.engine_state()["home_net"] == ["10.42.0.0/16"]  # the engine kept its settings


def test_rules_loading_reports_progress_and_can_be_cancelled(tmp_path: Path) -> None:
    """Bug: while the warm engine loaded its rules (11 s for ET Open) nothing was reported
    and a cancel (the server's DELETE, the widget's Cancel) was not heard."""
    import threading

    from jupyter_sauce.errors import Cancelled

    cap = demo(tmp_path / "demo.pcap")
    cancel, events = threading.Event(), []

    def progress(p) -> None:
        events.append(p)
        if p.phase == "rules":
            cancel.set()

    with make_sauce(tmp_path / "s") as s:
        with pytest.raises(Cancelled):
            s.analyze(cap, progress=progress, cancel=cancel)
        assert [e.message for e in events if e.phase == "rules"][0] == (
            "Suricata is loading 4 rules"
        )
        assert not s.engine_state()["warm"] and s.open(cap) is None  # nothing kept
        assert not list((tmp_path / "s" / "entries").glob("*"))
        events.clear()
        case = s.analyze(cap, progress=events.append)  # and the next run goes through
        assert len(case.alerts) == 5 and any(e.phase == "rules" for e in events)


def test_a_killed_owner_leaves_no_suricata_running(tmp_path: Path, monkeypatch) -> None:
    """Bug: a CLI or kernel killed with SIGKILL left its warm Suricata running forever;
    the next engine's sweep removed its folder but not the process."""
    import tempfile

    from jupyter_sauce.warm import _suricatas_using, sweep_stale_run_dirs

    # a temp dir of its own: no other process's sweep may stop the orphan before ours
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))

    script = (
        "import sys, time\n"
        "from jupyter_sauce.pipeline import Sauce\n"
        "from traitlets.config import Config\n"
        "c = Config(); c.StoreConfig.store_dir = sys.argv[1]; c.RulesConfig.rules = 'starter'\n"
        "s = Sauce(c); s.analyze(sys.argv[2])\n"
        "print(s.warm_slot.engine.sock_path, flush=True); time.sleep(600)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "s"), str(demo(tmp_path / "d.pcap"))],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(private)},
    )  # fmt: skip
    try:
        sock = Path(owner.stdout.readline().strip())
        assert sock.parent.parent == private
        orphans = _suricatas_using(sock)
        assert len(orphans) == 1
        owner.kill()
        owner.wait(30)
        time.sleep(0.5)
        assert _suricatas_using(sock) == orphans  # still running without its owner
        sweep_stale_run_dirs()
        deadline = time.monotonic() + 10
        while _suricatas_using(sock) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _suricatas_using(sock) == [] and not sock.parent.exists()
    finally:
        owner.kill()
        owner.wait(30)
        for pid in _suricatas_using(sock) if "sock" in locals() else []:
            os.kill(pid, signal.SIGKILL)


def test_configured_bad_ips_decide_the_starter_tls_alert(tmp_path: Path) -> None:
    cap = demo(tmp_path / "demo.pcap")
    cfg = Config()
    cfg.StoreConfig.store_dir = str(tmp_path / "s")
    cfg.RulesConfig.rules = "starter"
    cfg.RulesConfig.bad_ips = ["198.51.100.7"]  # not the demo's C2 address
    with Sauce(cfg) as s:
        case = s.analyze(cap)
    assert set(case.alerts["signature_id"]) == {9000001, 9000002, 9000003}
    with make_sauce(tmp_path / "s") as s:  # the default list names 203.78.103.109
        tls = s.analyze(cap).alerts.query("signature_id == 9000004")
    assert list(tls["dest_ip"]) == ["203.78.103.109"]


def test_a_run_waiting_for_another_hears_cancel_and_says_it_waits(tmp_path: Path) -> None:
    """Bug: a run waiting for the store lock another analysis of the same capture and
    settings held (another process, the server) ignored cancel and server shutdown."""
    import threading

    from filelock import FileLock

    from jupyter_sauce.errors import Cancelled

    cap = demo(tmp_path / "demo.pcap")
    with make_sauce(tmp_path / "s") as s:
        key = s._key(s.inspect(cap).sha256, s.ruleset(), s.home_net())
        holder = FileLock(str(tmp_path / "s" / "locks" / f"{key}.lock"))
        holder.acquire()  # as another process analysing the same capture would
        try:
            cancel, events, outcome = threading.Event(), [], {}

            def progress(p) -> None:
                events.append(p)
                if p.phase == "wait" and len(events) > 2:
                    cancel.set()

            def run() -> None:
                try:
                    s.analyze(cap, progress=progress, cancel=cancel)
                except Cancelled as exc:
                    outcome["cancelled"] = exc.message

            thread = threading.Thread(target=run)
            thread.start()
            thread.join(30)
            assert not thread.is_alive()
        finally:
            holder.release()
        assert outcome == {"cancelled": "The analysis was cancelled."}
        waits = [e.message for e in events if e.phase == "wait"]
        assert waits and waits[0] == (
            "Waiting for another analysis of this capture with the same settings"
        )
        assert s.open(cap) is None  # nothing stored, and the next run goes through
        assert len(s.analyze(cap).alerts) == 5


def test_a_stored_result_ends_with_an_opened_step(tmp_path: Path) -> None:
    """A run served from the store kept "Reading the capture" as its last progress (the
    server showed a done run still at phase "inspect")."""
    cap = demo(tmp_path / "demo.pcap")
    with make_sauce(tmp_path / "s") as s:
        s.analyze(cap)
        steps: list = []
        case = s.analyze(cap, progress=steps.append)
    assert case.reused
    assert [(p.phase, p.message) for p in steps] == [
        ("inspect", "Reading the capture"),
        ("stored", "Opened the stored result"),
    ]
    assert steps[-1].fraction == 1.0


def test_home_net_with_too_many_ranges_is_refused(sauce: Sauce) -> None:
    """A REST client's 60,000-entry home_net kept Suricata loading rules for minutes, with
    the server's only run slot taken."""
    hosts = [f"10.{i // 250}.{i % 250}.1" for i in range(2001)]
    assert len(sauce.home_net(" ".join(hosts[:2000]))) == 2000
    with pytest.raises(RangeError) as err:
        sauce.home_net(" ".join(hosts))
    assert err.value.message == (
        "HOME_NET has 2,001 ranges; at most 2,000 are accepted (Suricata loads its rules far "
        "slower with more): give wider ranges."
    )
