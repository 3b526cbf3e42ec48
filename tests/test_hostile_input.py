"""Hostile and careless input: every wrong input is one clear error, nothing hangs,
no Suricata is left behind, a damaged store entry is remade."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("server_helpers")

from captures import http_records, pcap_bytes, pcapng_bytes, write  # noqa: E402
from conftest import CORPUS, ET_OPEN, PCAPS  # noqa: E402
from server_helpers import body, call  # noqa: E402
from unprivileged import as_nobody, open_box  # noqa: E402

from jupyter_sauce import Sauce, rules  # noqa: E402
from jupyter_sauce.capture import inspect_capture  # noqa: E402
from jupyter_sauce.engine import find_suricata, run_cold  # noqa: E402
from jupyter_sauce.errors import CaptureError, RangeError, ReportError, RulesError  # noqa: E402
from jupyter_sauce.server.results import FieldError, parse_paging  # noqa: E402
from jupyter_sauce.virustotal.report import read_report_file  # noqa: E402
from jupyter_sauce.warm import WarmEngine  # noqa: E402

pytest_plugins = ("pytest_jupyter.jupyter_server", "server_helpers")

needs_suricata = pytest.mark.skipif(shutil.which("suricata") is None, reason="suricata not on PATH")
NMAP = PCAPS / "esnet-curated" / "nmap_80_all.pcap"
VT_ERROR = CORPUS / "virustotal" / "error_NotFoundError_ip_deploymenttheory.json"


def cli(*args: str, store: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """``jupyter sauce --store STORE ARGS`` in a subprocess (a hang fails, it does not block)."""
    cmd = [sys.executable, "-m", "jupyter_sauce.cli", "--store", str(store), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def bad_version_pcap(path: Path) -> Path:
    data = bytearray(pcap_bytes(http_records()))
    struct.pack_into("<HH", data, 4, 3, 0)  # pcap version 3.0: libpcap refuses to open it
    return write(path, bytes(data))


def pcapng_corrupt_before_idb(path: Path) -> Path:
    data = bytearray(pcapng_bytes(http_records()))
    struct.pack_into("<I", data, 28 + 4, 0xFFFF)  # the IDB's length: not a multiple of 4
    return write(path, bytes(data))


def _analysing(pid: int) -> bool:
    """Whether ``pid`` is a Suricata reading captures (warm or cold), not a version probe."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(a.startswith(b"--unix-socket") or a == b"-r" for a in argv)


def children(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(child) for child in out.split()}


# --- captures libpcap cannot open: refused up front, and never a 60 s hang in Suricata ---------


def test_pcap_of_an_unsupported_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="version 3.0"):
        inspect_capture(bad_version_pcap(tmp_path / "v3.pcap"))


def test_pcapng_corrupt_before_its_interface_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="before its first interface"):
        inspect_capture(pcapng_corrupt_before_idb(tmp_path / "bad.pcapng"))
    data = pcapng_bytes(http_records())
    shb, rest = data[:28], data[28:]
    idb_len = struct.unpack_from("<I", rest, 4)[0]
    packets_first = shb + rest[idb_len:] + rest[:idb_len]
    with pytest.raises(CaptureError, match="packet before any interface"):
        inspect_capture(write(tmp_path / "order.pcapng", packets_first))


def test_pcapng_with_a_block_too_short_for_its_type_is_truncated_not_a_crash(
    tmp_path: Path,
) -> None:
    """Bug: an enhanced packet block of 12 bytes (its header and length only) made the
    inspector read past the block: struct.error, 'unexpected error' at every front end."""
    shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    idb = struct.pack("<IIHHI", 1, 20, 1, 0, 65535) + struct.pack("<I", 20)
    good = pcapng_bytes(http_records())
    short_epb = struct.pack("<III", 6, 12, 12)
    for name, data, packets in (
        ("only-short.pcapng", shb + idb + short_epb, 0),
        ("short-last.pcapng", good + short_epb, len(http_records())),
    ):
        info = inspect_capture(write(tmp_path / name, data))
        assert info.packets == packets
        assert any("corrupt or truncated at byte" in w for w in info.warnings), info.warnings


@needs_suricata
def test_cli_refuses_an_unopenable_capture_quickly(tmp_path: Path) -> None:
    cap = bad_version_pcap(tmp_path / "v3.pcap")
    t0 = time.monotonic()
    proc = cli("analyze", str(cap), "--no-vt", store=tmp_path / "store")
    assert proc.returncode == 2, proc.stderr
    assert "version 3.0" in proc.stderr and "Traceback" not in proc.stderr
    assert time.monotonic() - t0 < 20


@needs_suricata
@pytest.mark.parametrize("warm", [True, False])
def test_engine_gives_up_quickly_when_suricata_cannot_open_the_capture(
    tmp_path: Path, warm: bool
) -> None:
    """Defence in depth below inspect_capture: Suricata 7 waits ~60 s for its reader
    thread (cold) or stops answering its socket (warm) when libpcap refuses a file."""
    cap = bad_version_pcap(tmp_path / "v3.pcap")
    binary = find_suricata("suricata")
    rs = rules.starter(["203.0.113.9"], tmp_path / "rulesets")
    out = tmp_path / "out"
    t0 = time.monotonic()
    if warm:
        engine = WarmEngine(binary, rs, ["10.0.0.0/8"])
        engine.start()
        try:
            with pytest.raises(CaptureError, match="cannot open the capture 'v3.pcap'"):
                engine.analyze(cap, cap.stat().st_size, out, timeout=120)
        finally:
            engine.stop()
    else:
        with pytest.raises(CaptureError, match="unsupported pcap savefile version"):
            run_cold(binary, cap, cap.stat().st_size, rs, ["10.0.0.0/8"], out, timeout=120)
    assert time.monotonic() - t0 < 45


# --- files that are not regular files: no blocking read on a FIFO, no reading /dev/zero ---------


def test_fifo_as_rules_file_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.rules")
    result: list[BaseException] = []

    def resolve() -> None:
        try:
            rules.from_path(tmp_path / "x.rules", tmp_path / "cache")
        except BaseException as exc:
            result.append(exc)

    t = threading.Thread(target=resolve, daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the reader so the thread ends
        with open(tmp_path / "x.rules", "wb"):
            pass
        pytest.fail("reading a FIFO as a rules file blocked")
    assert isinstance(result[0], RulesError)
    assert "not a regular file" in str(result[0])


def test_report_import_refuses_devices_fifos_huge_files_and_error_bodies(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="not a regular file"):
        read_report_file(Path("/dev/zero"))
    os.mkfifo(tmp_path / "f.json")
    with pytest.raises(ReportError, match="not a regular file"):
        read_report_file(tmp_path / "f.json")
    huge = tmp_path / "8.8.8.8.json"
    with huge.open("wb") as fh:  # sparse: no disk used
        fh.truncate(64 * 1024 * 1024)
    with pytest.raises(ReportError, match="too large"):
        read_report_file(huge)
    err = tmp_path / "err.json"
    err.write_text(json.dumps({"error": {"code": "NotFoundError", "message": "x"}}))
    with pytest.raises(ReportError, match=r"VirusTotal error response, NotFoundError"):
        read_report_file(err)


def test_reports_option_naming_a_file_is_an_input_error(tmp_path: Path) -> None:
    cap = write(tmp_path / "http.pcap", pcap_bytes(http_records()))
    (tmp_path / "afile").write_text("x")
    proc = cli("analyze", str(cap), "--reports", str(tmp_path / "afile"), store=tmp_path / "store")
    assert proc.returncode == 2, proc.stderr
    assert "is not a directory" in proc.stderr and "Traceback" not in proc.stderr


# --- HOME_NET -----------------------------------------------------------------------------------


def test_home_net_covering_all_ipv4_is_an_input_error(tmp_path: Path) -> None:
    sauce = Sauce()
    sauce.store_config.store_dir = str(tmp_path)
    for text in ("0.0.0.0/0", "0.0.0.0/1, 128.0.0.0/1", "0.0.0.0/0 ::/0"):
        with pytest.raises(RangeError, match="every IPv4 address"):
            sauce.home_net(text)
    with pytest.raises(RangeError, match="^HOME_NET: 'any'"):
        sauce.home_net("any")
    assert sauce.home_net("::/0, 10.0.0.0/8") == ["10.0.0.0/8", "::/0"]


# --- the case store -----------------------------------------------------------------------------


@needs_suricata
def test_damaged_store_entry_is_remade(tmp_path: Path) -> None:
    cap = write(tmp_path / "http.pcap", pcap_bytes(http_records()))
    store = tmp_path / "store"
    assert cli("analyze", str(cap), "--no-vt", "--no-warm", store=store).returncode == 0
    (entry,) = (store / "entries").iterdir()
    for damage in (
        lambda: (entry / "alerts.parquet").unlink(),
        lambda: (entry / "manifest.json").write_text("garbage"),
        lambda: (entry / "manifest.json").write_text("{}"),
    ):
        damage()
        proc = cli("analyze", str(cap), "--no-vt", "--no-warm", "--format", "json", store=store)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)[0]["counts"]["alerts"] == 1
    (entry / "flows.parquet").write_bytes(b"not parquet")
    with Sauce() as sauce:
        sauce.store = type(sauce.store)(store)
        case = sauce.load(entry.name)
        with pytest.raises(Exception, match="damaged.*--rerun") as info:
            _ = case.flows
        assert type(info.value).__name__ == "StoreError"


# --- signals: SIGTERM / SIGHUP unwind like Ctrl-C -----------------------------------------------


@needs_suricata
@pytest.mark.skipif(not (ET_OPEN.is_dir() and NMAP.is_file()), reason="corpus ET Open not found")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_leaves_no_suricata_and_no_entry(tmp_path: Path, sig: int) -> None:
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "jupyter_sauce.cli", "--store", str(store), "analyze"]
    cmd += [str(NMAP), "--no-vt", "--rules", str(ET_OPEN)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    ours = set()
    while not ours and time.monotonic() < deadline:  # the analysing Suricata, not `suricata -V`
        ours = {pid for pid in children(proc.pid) if _analysing(pid)}
        time.sleep(0.1)
    if not ours:
        proc.kill()
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"Suricata did not start (exit {proc.returncode}): {err.decode()[-2000:]}")
    time.sleep(1)  # let it load rules for a moment
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    try:
        assert proc.returncode == 130, err
        assert "interrupted" in err.decode()
        assert not [pid for pid in ours if Path(f"/proc/{pid}").exists()], "Suricata left behind"
        assert list((store / "entries").iterdir()) == []
        assert list((store / "tmp").iterdir()) == []
    finally:
        for pid in ours:
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)


# --- REST ---------------------------------------------------------------------------------------


async def test_unknown_api_paths_answer_the_json_error_shape(jp_fetch: Any) -> None:
    for parts in (("runs", "xyz"), ("runs", "0" * 32, "xml"), ("nope",)):
        got = await call(jp_fetch, "GET", *parts)
        assert got.code == 404
        assert body(got)["error"]["status"] == 404


def test_negative_offset_message_does_not_mention_the_limit() -> None:
    with pytest.raises(FieldError, match=r"^offset must be 0 or more\.$"):
        parse_paging({"offset": "-1"}, "json")


RESOLVE = """import sys
from pathlib import Path
from jupyter_sauce import rules
from jupyter_sauce.errors import RulesError
try:
    rules.resolve("", bad_ips=[], data_dir=sys.argv[1], cache=Path(sys.argv[2]))
except RulesError as exc:
    print(exc.message)
    sys.exit(3)
print("no error")
"""


def test_unreadable_installed_rules_are_named_not_skipped() -> None:
    """Bug: an unreadable suricata-update output was skipped and the starter rules used
    instead, without a word."""
    with open_box() as base:
        installed = base / "data" / "rules"
        installed.mkdir(parents=True)
        (base / "data").chmod(0o755)
        installed.chmod(0o755)
        rule_file = installed / "suricata.rules"
        rule_file.write_text('alert ip any any -> any any (msg:"x"; sid:1; rev:1;)\n')
        rule_file.chmod(0)
        cache = base / "home" / "rulesets"
        args = ["-c", RESOLVE, str(base / "data"), str(cache)]
        if os.geteuid() == 0:
            r = as_nobody(args, base / "home")
        else:
            r = subprocess.run([sys.executable, *args], capture_output=True, text=True)
        assert r.returncode == 3, r.stdout + r.stderr
        assert "suricata.rules' cannot be read" in r.stdout


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"jupyter_sauce_config.json": "{not json"}, "jupyter_sauce_config.json' cannot be read"),
        ({"jupyter_sauce_config.py": "c.X = (\n"}, "jupyter_sauce_config.py' cannot be read"),
        ({"jupyter_sauce_config.json": '{"SuricataConfig": {"runmode": "bogus"}}'},
         "SuricataConfig.runmode: The 'runmode' trait"),
        ({"jupyter_sauce_config.json": '{"SuricataConfig": {"warm": "yes"}}'},
         "SuricataConfig.warm:"),
        ({"jupyter_sauce_config.json": '{"VirusTotalConfig": {"timeout": -1}}'},
         "VirusTotalConfig.timeout:"),
        ({"jupyter_sauce_config.json": '{"VirusTotalConfig": {"requests_per_day": -5}}'},
         "VirusTotalConfig.requests_per_day:"),
        ({"jupyter_sauce_config.json": '{"VirusTotalConfig": {"api_key": 987654321}}'},
         "VirusTotalConfig.api_key: the api_key setting has the wrong type"),
        ({"jupyter_sauce_config.json": '{"VirusTotalConfig": {"api_key_file": "{dir}/k.bin"}}',
          "k.bin": b"\xff\xfe\x00binary"}, "is not text"),
        ({"jupyter_sauce_config.json": '{"StoreConfig": {"store_dir": "~nosuchuser42/s"}}'},
         "'~nosuchuser42', a home directory that does not exist"),
    ],
    ids=["json", "py", "runmode", "warm", "vt-timeout", "per-day", "key-type", "key-file",
         "no-such-user"],
)  # fmt: skip
def test_bad_configuration_is_one_sentence(tmp_path: Path, files: dict, message: str) -> None:
    """Bug: each of these ended in 'unexpected <Error>' (or a traceback) instead of naming
    the setting or the file; a key's value is never repeated."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    for name, content in files.items():
        if isinstance(content, bytes):
            (cfg / name).write_bytes(content)
        else:
            (cfg / name).write_text(content.replace("{dir}", str(cfg)))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(cfg), "VT_API_KEY": ""}
    cap = write(tmp_path / "x.pcap", pcap_bytes(http_records()))
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_sauce.cli", "--store", str(tmp_path / "s"), "analyze",
         str(cap)] if "store_dir" not in str(files) else
        [sys.executable, "-m", "jupyter_sauce.cli", "analyze", str(cap)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "unexpected" not in r.stderr
    assert "987654321" not in r.stdout + r.stderr


def test_suricatas_refusal_is_one_sentence_without_libpcap_internals(tmp_path: Path) -> None:
    from jupyter_sauce.engine import check_capture_opened

    log = (
        "[123] Error: pcap: failed to get first packet timestamp. pcap_next_ex(): -1\n"
        "[123] Error: pcap: pcap file reader thread failed to initialize\n"
    )
    with pytest.raises(CaptureError) as err:
        check_capture_opened(log, tmp_path / "cut.pcap")
    assert err.value.message == (
        "Suricata cannot open the capture 'cut.pcap': failed to get first packet timestamp."
    )
