"""The built-in demo capture: a short re-enactment of "The Case of the Stolen Szechuan Sauce".

DFIR Madness's case (C137.local, domain controller CITADEL-DC01 at 10.42.85.10,
2020-09-19 UTC). :func:`write_demo_capture` writes, byte-for-byte the same every call:

1. an Nmap SYN sweep of well-known ports and two Nmap Scripting Engine HTTP probes from
   the attacker 194.61.24.102 to 10.42.85.10:80;
2. an RDP brute force: 12 short connections to 10.42.85.10:3389 within a minute, each an
   X.224 Connection Request with ``Cookie: mstshash=Administrator``;
3. the DC downloading ``/coreupdater.exe`` over HTTP from 194.61.24.102 (a harmless
   few-hundred-byte stand-in that merely looks like a PE header);
4. DNS lookups, then a TLS 1.2 session (ClientHello with SNI, ServerHello, encrypted
   records) from the DC to the C2 server 203.78.103.109:443.

All names and payloads are synthetic; the SNI uses the reserved ``.example`` TLD.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from datetime import datetime, timezone
from pathlib import Path

from .errors import InputError
from .pcapwrite import Record, TcpSession, udp_frame, write_pcap

ATTACKER = "194.61.24.102"
DC = "10.42.85.10"
DESKTOP = "10.42.85.115"
C2 = "203.78.103.109"
RESOLVER = "8.8.8.8"
C2_SNI = "update.coreupdater.example"
NSE_USER_AGENT = "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"
IE_USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Trident/7.0; rv:11.0) like Gecko"

_MACS = {DC: "00:0c:29:4f:85:0a", DESKTOP: "00:0c:29:4f:85:73"}
_GATEWAY_MAC = "00:0c:29:4f:85:01"  # every external host is seen behind the router

_T0 = int(datetime(2020, 9, 19, 2, 19, 0, tzinfo=timezone.utc).timestamp()) * 1_000_000
_SEC = 1_000_000
_SCAN_PORTS = (21, 22, 23, 25, 53, 80, 88, 135, 139, 389, 443, 445, 3389)
_OPEN_PORTS = frozenset({53, 80, 88, 135, 139, 389, 445, 3389})
RDP_ATTEMPTS = 12

# A self-signed X.509 v1 certificate, CN=update.coreupdater.example, valid 2020-09-15 to
# 2021-09-15, Ed25519 (made once with openssl; its key was thrown away). Suricata logs a
# TLS session in eve.json only once it has seen the server certificate.
_C2_CERT = base64.b64decode(
    "MIHxMIGkAgEBMAUGAytlcDAlMSMwIQYDVQQDDBp1cGRhdGUuY29yZXVwZGF0ZXIuZXhhbXBsZTAe"
    "Fw0yMDA5MTUwMDAwMDBaFw0yMTA5MTUwMDAwMDBaMCUxIzAhBgNVBAMMGnVwZGF0ZS5jb3JldXBk"
    "YXRlci5leGFtcGxlMCowBQYDK2VwAyEAxcr7kPfUGRpbQQquoz/vUpMg03exKt1NgaiKnzLWyzww"
    "BQYDK2VwA0EA6rwRfWCJv4bJMPXhTnUem68IvifJdA50sbkGmXKZGFxHJOIkjsqlPYY6aGl/mZ8C"
    "07vtZjeP9PVROJ9goD+FDg=="
)


def _mac(ip: str) -> str:
    return _MACS.get(ip, _GATEWAY_MAC)


def _session(client: str, cport: int, server: str, sport: int, t_us: int, **kw: int) -> TcpSession:
    seed = hashlib.sha256(f"{client}:{cport}>{server}:{sport}".encode()).digest()
    return TcpSession(
        client, cport, server, sport, t_us, client_mac=_mac(client), server_mac=_mac(server),
        client_isn=int.from_bytes(seed[:4], "big"), server_isn=int.from_bytes(seed[4:8], "big"),
        ident=int.from_bytes(seed[8:10], "big"), **kw,
    )  # fmt: skip


def _rand(label: str, n: int) -> bytes:
    """Deterministic pseudo-random bytes (TLS randoms, ciphertext)."""
    out = b""
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{len(out)}".encode()).digest()
    return out[:n]


# --- application payloads -------------------------------------------------------------


def _http_request(method: str, path: str, host: str, agent: str, extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}User-Agent: {agent}\r\n"
    return (head + "Connection: close\r\n\r\n").encode()


def _http_response(status: str, ctype: str, body: bytes, server: str, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nServer: {server}\r\n"
        "Date: Sat, 19 Sep 2020 02:24:10 GMT\r\n"
        f"{extra}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def fake_pe_bytes() -> bytes:
    """A few hundred harmless bytes that look like the start of a PE file (not runnable)."""
    dos = bytearray(0x80)
    dos[0:2] = b"MZ"
    struct.pack_into("<HHHH", dos, 2, 0x90, 3, 0, 4)
    struct.pack_into("<I", dos, 0x3C, 0x80)  # e_lfanew → the "PE\0\0" below
    stub = b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21"
    text = b"This program cannot be run in DOS mode.\r\r\n$"
    dos[0x40 : 0x40 + len(stub) + len(text)] = stub + text
    # PE signature + COFF header for x64 with zero sections: parses, but nothing to run.
    coff = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x8664, 0, 0x5F6569E0, 0, 0, 0, 0x0022)
    note = b"jupyter_sauce demo stand-in for coreupdater.exe - not an executable\n"
    body = bytes(dos) + coff + note
    return body + b"\x00" * (384 - len(body))


def _dns(txid: int, name: str, answer: str | None = None) -> bytes:
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    question = qname + struct.pack("!HH", 1, 1)
    if answer is None:
        return struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0) + question
    rr = struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4) + bytes(int(x) for x in answer.split("."))
    return struct.pack("!HHHHHH", txid, 0x8180, 1, 1, 0, 0) + question + rr


def _rdp_connection_request(user: str) -> bytes:
    cookie = f"Cookie: mstshash={user}\r\n".encode()
    neg_req = struct.pack("<BBHI", 0x01, 0x00, 8, 0x00000003)  # TLS | CredSSP
    x224 = bytes([6 + len(cookie) + len(neg_req), 0xE0, 0, 0, 0, 0, 0]) + cookie + neg_req
    return struct.pack("!BBH", 3, 0, 4 + len(x224)) + x224


def _rdp_connection_confirm() -> bytes:
    neg_rsp = struct.pack("<BBHI", 0x02, 0x1F, 8, 0x00000002)  # selected: CredSSP
    x224 = bytes([6 + len(neg_rsp), 0xD0, 0, 0, 0x12, 0x34, 0]) + neg_rsp
    return struct.pack("!BBH", 3, 0, 4 + len(x224)) + x224


def _ext(etype: int, data: bytes) -> bytes:
    return struct.pack("!HH", etype, len(data)) + data


def _handshake(msg_type: int, body: bytes, record_version: int = 0x0303) -> bytes:
    hs = bytes([msg_type]) + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 22, record_version, len(hs)) + hs


def _tls_client_hello(sni: str) -> bytes:
    name = sni.encode()
    suites = [0xC02C, 0xC02B, 0xC030, 0xC02F, 0xC024, 0xC023, 0xC028, 0xC027, 0x009F, 0x009E]
    suites += [0xC00A, 0xC009, 0xC014, 0xC013, 0x009D, 0x009C, 0x003D, 0x003C, 0x0035, 0x002F]
    exts = b"".join(
        [
            _ext(0x0000, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name),
            _ext(0x0005, b"\x01\x00\x00\x00\x00"),  # status_request
            _ext(0x000A, struct.pack("!HHHH", 6, 0x001D, 0x0017, 0x0018)),  # groups
            _ext(0x000B, b"\x01\x00"),  # ec_point_formats: uncompressed
            _ext(0x000D, struct.pack("!H6H", 12, 0x0804, 0x0403, 0x0401, 0x0501, 0x0601, 0x0201)),
            _ext(0x0017, b""),  # extended_master_secret
            _ext(0xFF01, b"\x00"),  # renegotiation_info
        ]
    )
    body = (
        b"\x03\x03" + _rand("client-random", 32) + b"\x00"
        + struct.pack(f"!H{len(suites)}H", 2 * len(suites), *suites)
        + b"\x01\x00" + struct.pack("!H", len(exts)) + exts
    )  # fmt: skip
    return _handshake(1, body, record_version=0x0301)


def _tls_server_hello() -> bytes:
    exts = _ext(0xFF01, b"\x00") + _ext(0x000B, b"\x01\x00") + _ext(0x0017, b"")
    body = (
        b"\x03\x03" + _rand("server-random", 32) + b"\x20" + _rand("session-id", 32)
        + struct.pack("!HB", 0xC02F, 0) + struct.pack("!H", len(exts)) + exts
    )  # fmt: skip
    chain = len(_C2_CERT).to_bytes(3, "big") + _C2_CERT
    certificate = _handshake(11, len(chain).to_bytes(3, "big") + chain)
    return _handshake(2, body) + certificate + _handshake(14, b"")


def _tls_record(content_type: int, body: bytes) -> bytes:
    return struct.pack("!BHH", content_type, 0x0303, len(body)) + body


def _tls_client_finish() -> bytes:
    cke = _handshake(16, b"\x41\x04" + _rand("client-ecdhe", 64))
    return cke + _tls_record(20, b"\x01") + _tls_record(22, _rand("client-finished", 40))


# --- the story ------------------------------------------------------------------------


def _nmap(records: list[Record]) -> None:
    t = _T0 + 10 * _SEC
    for i, port in enumerate(_SCAN_PORTS):  # -sS: SYN, then RST on open ports
        s = _session(ATTACKER, 54_321, DC, port, t + i * 350, client_ttl=41)
        s.syn(window=1024)
        if port in _OPEN_PORTS:
            s.syn_ack().reset(True)
        else:
            s.reset(False, with_ack=True)
        records += s.records
    probes = (
        ("GET", "/", "200 OK", b"<html><head><title>IIS Windows Server</title></head></html>"),
        ("GET", "/nmaplowercheck1600482002", "404 Not Found", b"<h1>404 - Not Found</h1>"),
    )
    for i, (method, path, status, body) in enumerate(probes):
        s = _session(ATTACKER, 41_870 + i, DC, 80, t + (20 + 2 * i) * _SEC, client_ttl=41)
        s.handshake().send(_http_request(method, path, DC, NSE_USER_AGENT))
        s.send(_http_response(status, "text/html", body, "Microsoft-IIS/10.0"), False)
        s.close(True)
        records += s.records


def _rdp(records: list[Record]) -> None:
    t = _T0 + 120 * _SEC
    for i in range(RDP_ATTEMPTS):
        s = _session(ATTACKER, 50_110 + i, DC, 3389, t + i * 4 * _SEC, client_ttl=41)
        s.handshake().send(_rdp_connection_request("Administrator"))
        s.send(_rdp_connection_confirm(), False).close(True)
        records += s.records


def _download(records: list[Record]) -> None:
    s = _session(DC, 62_613, ATTACKER, 80, _T0 + 310 * _SEC, server_ttl=52)
    request = _http_request(
        "GET", "/coreupdater.exe", ATTACKER, IE_USER_AGENT,
        extra="Accept: text/html, application/xhtml+xml, image/jxr, */*\r\n",
    )  # fmt: skip
    s.handshake().send(request)
    server = "SimpleHTTP/0.6 Python/3.8.5"
    extra = "Last-Modified: Sat, 19 Sep 2020 01:55:36 GMT\r\n"
    s.send(
        _http_response("200 OK", "application/octet-stream", fake_pe_bytes(), server, extra), False
    )
    records += s.close(False).records


def _dns_lookups(records: list[Record]) -> None:
    lookups = (
        (DESKTOP, DC, 0x1A2B, "citadel-dc01.c137.local", DC, _T0 + 60 * _SEC),
        (DC, RESOLVER, 0x5C37, C2_SNI, C2, _T0 + 419 * _SEC),
    )
    for client, server, txid, name, answer, t in lookups:
        sport = 50_000 + txid % 10_000
        fwd = (_mac(client), _mac(server), client, server, sport, 53)
        back = (_mac(server), _mac(client), server, client, 53, sport)
        records.append(Record(t, udp_frame(*fwd, _dns(txid, name), ttl=128, ident=txid)))
        records.append(Record(t + 21_000, udp_frame(*back, _dns(txid, name, answer), ttl=56)))


def _c2(records: list[Record]) -> None:
    s = _session(DC, 62_700, C2, 443, _T0 + 420 * _SEC, gap_us=70_000, server_ttl=47)
    s.handshake().send(_tls_client_hello(C2_SNI)).send(_tls_server_hello(), False)
    s.send(_tls_client_finish())
    s.send(_tls_record(20, b"\x01") + _tls_record(22, _rand("server-finished", 40)), False)
    for i in range(3):
        s.send(_tls_record(23, _rand(f"beacon-{i}", 180 + 40 * i)))
        s.send(_tls_record(23, _rand(f"task-{i}", 1200 + 900 * i)), False)
        s.wait(5 * _SEC)
    records += s.close(True).records


def demo_records() -> list[Record]:
    """Every frame of the demo capture, sorted by time."""
    records: list[Record] = []
    for part in (_nmap, _dns_lookups, _rdp, _download, _c2):
        part(records)
    return sorted(records, key=lambda r: r.ts_us)  # stable: same-time frames keep order


def write_demo_capture(path: str | Path) -> Path:
    """Write the Szechuan Sauce re-enactment to ``path`` (classic pcap) and return it."""
    return write_pcap(path, demo_records())


def place_demo_capture(path: str | Path) -> Path:
    """Make sure ``path`` holds the demo capture, never replacing any other file.

    An existing identical file is left as it is (its "analysed" mark stays valid); any
    other existing file is an :class:`~jupyter_sauce.errors.InputError`.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{str(path)!r} is a directory; give a file name for the demo capture.")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write_demo_capture(tmp)
        if path.exists() or path.is_symlink():
            if path.is_file() and path.read_bytes() == tmp.read_bytes():
                return path
            raise InputError(
                f"{str(path)!r} already exists and is not the demo capture; choose another "
                "path or move it away (it is never overwritten)."
            )
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(
            f"The demo capture cannot be written to {str(path)!r}: {exc.strerror or exc}."
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path
