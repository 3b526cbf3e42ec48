"""The pcap writer, the Szechuan demo capture and the starter rules (with real Suricata)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shutil
import struct
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from jupyter_sauce import demo, pcapwrite
from jupyter_sauce.errors import InputError
from jupyter_sauce.starter_rules import (
    DEFAULT_BAD_IPS,
    STARTER_CLASSIFICATION,
    render_starter_rules,
    write_starter_ruleset,
)

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SAUCE_CORPUS", REPO.parent / "shared" / "corpus"))
ET_OPEN = CORPUS / "rules" / "et-open-2024-04-21"
SURICATA = shutil.which("suricata")
needs_suricata = pytest.mark.skipif(SURICATA is None, reason="suricata is not on PATH")
RFC1918 = "[10.0.0.0/8,172.16.0.0/12,192.168.0.0/16]"
DEMO_DAY = (1600473600, 1600560000)  # 2020-09-19T00:00Z .. 2020-09-20T00:00Z


# --- an independent little decoder (no pcapwrite helpers) -----------------------------


def _ones_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _decode(frame: bytes) -> dict:
    """Ethernet → IPv4/IPv6 → TCP/UDP, verifying every checksum on the way."""
    ethertype = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800:
        ihl = (ip[0] & 0x0F) * 4
        assert _ones_sum(ip[:ihl]) == 0xFFFF, "IPv4 header checksum"
        total_len, proto = struct.unpack("!H", ip[2:4])[0], ip[9]
        assert total_len == len(ip)
        src, dst, l4 = ip[12:16], ip[16:20], ip[ihl:total_len]
        pseudo = src + dst + struct.pack("!BBH", 0, proto, len(l4))
    else:
        assert ethertype == 0x86DD
        plen, proto = struct.unpack("!HB", ip[4:7])
        src, dst, l4 = ip[8:24], ip[24:40], ip[40 : 40 + plen]
        pseudo = src + dst + struct.pack("!I3xB", len(l4), proto)
    assert proto in (6, 17)
    assert _ones_sum(pseudo + l4) == 0xFFFF, "TCP/UDP checksum"
    sport, dport = struct.unpack("!HH", l4[:4])
    out = {
        "src": str(ipaddress.ip_address(src)),
        "dst": str(ipaddress.ip_address(dst)),
        "proto": proto,
        "sport": sport,
        "dport": dport,
    }
    if proto == 6:
        seq, ack, off, flags = struct.unpack("!IIBB", l4[4:14])
        out.update(seq=seq, ack=ack, flags=flags, payload=l4[(off >> 4) * 4 :])
    else:
        out["payload"] = l4[8:]
    return out


# --- pcapwrite --------------------------------------------------------------------------


def test_tcp_session_seq_ack_and_ipv6() -> None:
    s = pcapwrite.TcpSession("2001:db8::1", 40000, "2001:db8::2", 80, now_us=10**15)
    s.handshake().send(b"hello").send(b"world!", False).close()
    pkts = [_decode(r.data) for r in s.records]
    c, v = s.client_isn, s.server_isn
    expect = [  # (seq, ack, flags, payload length)
        (c, 0, 0x02, 0), (v, c + 1, 0x12, 0), (c + 1, v + 1, 0x10, 0),
        (c + 1, v + 1, 0x18, 5), (v + 1, c + 6, 0x10, 0),
        (v + 1, c + 6, 0x18, 6), (c + 6, v + 7, 0x10, 0),
        (c + 6, v + 7, 0x11, 0), (v + 7, c + 7, 0x11, 0), (c + 7, v + 8, 0x10, 0),
    ]  # fmt: skip
    assert [(p["seq"], p["ack"], p["flags"], len(p["payload"])) for p in pkts] == expect
    assert [r.ts_us for r in s.records] == [10**15 + 500 * i for i in range(10)]


def test_udp_frame_and_pcap_roundtrip(tmp_path: Path) -> None:
    frame = pcapwrite.udp_frame("02:00:00:00:00:01", "02:00:00:00:00:02",
                                "fe80::1", "ff02::fb", 5353, 5353, b"x" * 33)  # fmt: skip
    assert _decode(frame)["payload"] == b"x" * 33
    recs = [pcapwrite.Record(1_600_000_000_123_456, frame)]
    path = pcapwrite.write_pcap(tmp_path / "one.pcap", recs)
    assert pcapwrite.read_pcap(path) == (pcapwrite.LINKTYPE_ETHERNET, recs)


# --- the demo capture -------------------------------------------------------------------


def test_demo_capture_is_deterministic(tmp_path: Path) -> None:
    a = demo.write_demo_capture(tmp_path / "a.pcap")
    b = demo.write_demo_capture(tmp_path / "b.pcap")
    digest = hashlib.sha256(a.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(b.read_bytes()).hexdigest()
    assert a.read_bytes() == pcapwrite.pcap_bytes(demo.demo_records())


def test_demo_capture_is_a_valid_pcap(tmp_path: Path) -> None:
    path = demo.write_demo_capture(tmp_path / "demo.pcap")
    raw = path.read_bytes()
    magic, major, minor, _, _, snaplen, linktype = struct.unpack("<IHHiIII", raw[:24])
    assert (magic, major, minor, snaplen, linktype) == (0xA1B2C3D4, 2, 4, 65535, 1)
    count, pos, stamps, pkts = 0, 24, [], []
    while pos < len(raw):
        sec, usec, caplen, origlen = struct.unpack("<IIII", raw[pos : pos + 16])
        assert caplen == origlen and usec < 1_000_000
        stamps.append(sec * 1_000_000 + usec)
        pkts.append(_decode(raw[pos + 16 : pos + 16 + caplen]))
        pos += 16 + caplen
        count += 1
    assert pos == len(raw) and count == len(demo.demo_records()) > 150
    assert stamps == sorted(stamps)
    assert DEMO_DAY[0] * 10**6 <= stamps[0] and stamps[-1] < DEMO_DAY[1] * 10**6
    payloads = b"".join(p["payload"] for p in pkts)
    assert payloads.count(b"Cookie: mstshash=Administrator\r\n") == demo.RDP_ATTEMPTS
    assert payloads.count(demo.NSE_USER_AGENT.encode()) == 2
    assert b"GET /coreupdater.exe HTTP/1.1" in payloads
    assert b"This program cannot be run in DOS mode" in payloads
    assert demo.C2_SNI.encode() in payloads
    hosts = {p["src"] for p in pkts} | {p["dst"] for p in pkts}
    assert {demo.ATTACKER, demo.DC, demo.C2, demo.DESKTOP} <= hosts


def test_fake_pe_is_small_and_not_runnable() -> None:
    body = demo.fake_pe_bytes()
    assert body.startswith(b"MZ") and 200 < len(body) < 1024
    lfanew = struct.unpack("<I", body[0x3C:0x40])[0]
    assert body[lfanew : lfanew + 4] == b"PE\0\0"
    assert struct.unpack("<H", body[lfanew + 6 : lfanew + 8])[0] == 0  # no sections


# --- starter rules ----------------------------------------------------------------------


def test_render_starter_rules_defaults_and_classtypes() -> None:
    text = render_starter_rules(list(DEFAULT_BAD_IPS))
    rules = [line for line in text.splitlines() if line.startswith("alert ")]
    sids = [int(re.search(r"\bsid:(\d+);", r).group(1)) for r in rules]
    assert sids == [9000001, 9000002, 9000003, 9000004]
    defined = set(re.findall(r"classification: ([\w-]+),", STARTER_CLASSIFICATION))
    assert set(re.findall(r"classtype:([\w-]+);", text)) <= defined
    assert "-> [203.78.103.109] any" in text
    assert render_starter_rules(None) == text
    assert "sid:9000004;" not in render_starter_rules([])


def test_render_starter_rules_ipv6_and_dedup() -> None:
    text = render_starter_rules(["2001:DB8::0:1", "203.78.103.109", "2001:db8::1"])
    assert "-> [2001:db8::1,203.78.103.109] any" in text


@pytest.mark.parametrize("bad", ["not-an-ip", "10.0.0.0/8", "", "1.2.3.4; sid:1", "999.1.1.1"])
def test_render_starter_rules_rejects_non_ips(bad: str) -> None:
    with pytest.raises(InputError):
        render_starter_rules(["203.78.103.109", bad])


def test_render_starter_rules_rejects_a_bare_string() -> None:
    with pytest.raises(InputError):
        render_starter_rules("203.78.103.109")  # type: ignore[arg-type]


# --- with real Suricata -----------------------------------------------------------------


def _suricata(pcap: Path, rules: Path, classification: Path, out: Path, home_net: str) -> None:
    out.mkdir()
    args = [
        SURICATA, "-r", str(pcap), "-l", str(out), "-k", "none", "--runmode", "single",
        "-S", str(rules), "--set", f"classification-file={classification}",
        "--set", f"vars.address-groups.HOME_NET={home_net}",
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    log = (out / "suricata.log").read_text() if (out / "suricata.log").exists() else ""
    assert proc.returncode == 0, proc.stdout + proc.stderr + log
    assert "error parsing signature" not in (proc.stderr + log).lower()


def _eve(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "eve.json").read_text().splitlines()]


@needs_suricata
def test_starter_rules_load_without_errors(tmp_path: Path) -> None:
    rules, classification = write_starter_ruleset(tmp_path, ["203.78.103.109", "2001:db8::66"])
    args = [SURICATA, "-T", "-S", str(rules), "-l", str(tmp_path),
            "--set", f"classification-file={classification}"]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    log = (tmp_path / "suricata.log").read_text()
    assert proc.returncode == 0, proc.stderr + log
    assert "error parsing signature" not in (proc.stderr + log).lower()
    assert not re.search(r"^E: | Error: ", proc.stderr + log, re.MULTILINE), proc.stderr + log
    assert "4 signatures processed" in log or "4 rules successfully loaded" in log, log


@needs_suricata
def test_starter_rules_fire_on_the_demo(tmp_path: Path) -> None:
    pcap = demo.write_demo_capture(tmp_path / "demo.pcap")
    rules, classification = write_starter_ruleset(tmp_path / "rules")
    _suricata(pcap, rules, classification, tmp_path / "out", RFC1918)
    events = _eve(tmp_path / "out")
    alerts = Counter(
        (e["alert"]["signature_id"], e["src_ip"], e["dest_ip"])
        for e in events
        if e["event_type"] == "alert"
    )
    att, dc, c2 = demo.ATTACKER, demo.DC, demo.C2
    assert alerts == {
        (9000001, att, dc): 2,  # two NSE HTTP probes
        (9000002, att, dc): 1,  # coreupdater.exe, server → client
        (9000003, att, dc): 1,  # one alert per 60 s window of RDP SYNs
        (9000004, dc, c2): 1,  # one per TLS flow
    }
    fast = (tmp_path / "out" / "fast.log").read_text()
    assert f"{att}:41870 -> {dc}:80" in fast
    flows = Counter(
        (e["dest_ip"], e["dest_port"], e.get("app_proto"))
        for e in events
        if e["event_type"] == "flow"
    )
    assert flows[(dc, 3389, "rdp")] == demo.RDP_ATTEMPTS
    assert flows[(c2, 443, "tls")] == 1
    assert flows[(dc, 80, "http")] == 2 and flows[(att, 80, "http")] == 1
    assert flows[(dc, 53, "dns")] == 1 and flows[(demo.RESOLVER, 53, "dns")] == 1
    tls = [e["tls"] for e in events if e["event_type"] == "tls"]
    assert [t["sni"] for t in tls] == [demo.C2_SNI] and tls[0]["version"] == "TLS 1.2"
    http = {e["http"]["url"]: e["http"] for e in events if e["event_type"] == "http"}
    assert http["/coreupdater.exe"]["http_content_type"] == "application/octet-stream"
    assert http["/"]["http_user_agent"] == demo.NSE_USER_AGENT
    cookies = [e["rdp"].get("cookie") for e in events if e["event_type"] == "rdp"]
    assert cookies.count("Administrator") == demo.RDP_ATTEMPTS


@needs_suricata
@pytest.mark.corpus
def test_et_open_sees_the_nmap_probe(tmp_path: Path) -> None:
    if not ET_OPEN.is_dir():
        pytest.skip(f"ET Open ruleset not found at {ET_OPEN} (set SAUCE_CORPUS)")
    rules = tmp_path / "et-open.rules"
    rules.write_text("".join(p.read_text() for p in sorted(ET_OPEN.glob("*.rules"))))
    pcap = demo.write_demo_capture(tmp_path / "demo.pcap")
    out = tmp_path / "out"
    _suricata(pcap, rules, ET_OPEN / "classification.config", out, RFC1918)
    fired = {
        (e["alert"]["signature_id"], e["src_ip"], e["dest_ip"])
        for e in _eve(out)
        if e["event_type"] == "alert"
    }
    assert (2009358, demo.ATTACKER, demo.DC) in fired  # ET SCAN Nmap Scripting Engine UA
    assert (2018959, demo.ATTACKER, demo.DC) in fired  # ET POLICY PE EXE or DLL download


def test_demo_never_overwrites_another_file(tmp_path: Path) -> None:
    """Bug: ``jupyter sauce demo --path notes.txt`` replaced the file with the demo pcap."""
    import os
    import subprocess
    import sys

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "VT_API_KEY": ""}
    cmd = [sys.executable, "-m", "jupyter_sauce.cli", "--store", str(tmp_path / "s"), "demo"]
    r = subprocess.run([*cmd, "--no-vt", "--path", str(notes)], capture_output=True, text=True,
                       env=env, timeout=120)  # fmt: skip
    assert r.returncode == 2 and "already exists and is not the demo capture" in r.stderr
    assert notes.read_text() == "my notes\n"
    # the demo itself is kept as it is (same bytes, same mtime: its "analysed" mark holds)
    placed = demo.place_demo_capture(tmp_path / "szechuan-demo.pcap")
    stamp = placed.stat().st_mtime_ns
    assert demo.place_demo_capture(placed).stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_lab_url_printed_opens_the_demo_notebook(tmp_path: Path) -> None:
    """Bug: the URL JupyterLab printed opened the Launcher, not the demo notebook."""
    import os
    import re
    import signal
    import subprocess
    import time

    from jupyter_sauce.demo_notebook import lab_command, write_demo_notebook

    notebook = write_demo_notebook(tmp_path / "demo")
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
    }
    port = str(50000 + os.getpid() % 10000)
    proc = subprocess.Popen(
        lab_command(notebook, ["--no-browser", f"--port={port}", "--ip=127.0.0.1"]),
        cwd=notebook.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline, seen = time.monotonic() + 60, ""
        while time.monotonic() < deadline and "?token=" not in seen:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
        urls = re.findall(r"http://\S+\?token=\w+", seen)
        assert urls, seen[-2000:]
        assert all("/lab/tree/sauce-demo.ipynb?token=" in u for u in urls), urls
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
