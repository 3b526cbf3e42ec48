"""Small captures the tests make themselves: pcap in both byte orders and resolutions, pcapng."""

from __future__ import annotations

import struct
from pathlib import Path

from jupyter_sauce.demo import demo_records
from jupyter_sauce.pcapwrite import Record, TcpSession


def http_records(
    ua: str = "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
) -> list[Record]:
    """One HTTP request from 194.61.24.102 to 10.42.85.10 with the given user agent."""
    s = TcpSession("194.61.24.102", 40000, "10.42.85.10", 80, 1_600_481_970_000_000)
    s.handshake()
    s.send(f"GET / HTTP/1.1\r\nHost: 10.42.85.10\r\nUser-Agent: {ua}\r\n\r\n".encode())
    s.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", from_client=False)
    s.close()
    return s.records


def pcap_bytes(
    records: list[Record], order: str = "<", nanos: bool = False, linktype: int = 1
) -> bytes:
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for rec in records:
        sec, usec = divmod(rec.ts_us, 1_000_000)
        frac = usec * 1000 if nanos else usec
        out.append(struct.pack(order + "IIII", sec, frac, len(rec.data), len(rec.data)) + rec.data)
    return b"".join(out)


def pcapng_bytes(
    records: list[Record], order: str = "<", linktypes: tuple[int, ...] = (1,), iface: int = 0
) -> bytes:
    """pcapng with one interface per link type; every packet on interface ``iface``."""

    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        length = 12 + len(body)
        return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)

    shb = block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb = b"".join(block(1, struct.pack(order + "HHI", lt, 0, 262144)) for lt in linktypes)
    epbs = []
    for rec in records:
        hi, lo = rec.ts_us >> 32, rec.ts_us & 0xFFFFFFFF
        epbs.append(
            block(
                6,
                struct.pack(order + "IIIII", iface, hi, lo, len(rec.data), len(rec.data))
                + rec.data,
            )
        )
    return shb + idb + b"".join(epbs)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def demo(path: Path) -> Path:
    return write(path, pcap_bytes(demo_records()))
