"""Write classic pcap files with correct Ethernet / IPv4 / IPv6 / TCP / UDP packets.

Small and dependency-free: enough to build deterministic test and demo captures that
Suricata parses like real traffic. Timestamps are integer microseconds since the Unix
epoch, chosen by the caller, so the same inputs always give the same bytes.

The building blocks are plain functions (:func:`ethernet`, :func:`ip_packet`,
:func:`tcp_segment`, :func:`udp_datagram`, :func:`udp_frame`) plus :class:`TcpSession`,
which plays a TCP conversation (handshake, data both ways with correct seq/ack, FIN
close or RST) and records the frames with their timestamps.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

PCAP_MAGIC = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535
ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
PROTO_TCP = 6
PROTO_UDP = 17

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Record:
    """One captured frame: ``ts_us`` microseconds since the epoch and the frame bytes."""

    ts_us: int
    data: bytes


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``: one's-complement of the 16-bit sum."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def mac_bytes(mac: str) -> bytes:
    """``"00:0c:29:aa:bb:cc"`` → 6 bytes."""
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw


def ethernet(src_mac: str, dst_mac: str, ethertype: int, payload: bytes) -> bytes:
    """An Ethernet II frame (no FCS, as captures normally store them)."""
    return mac_bytes(dst_mac) + mac_bytes(src_mac) + struct.pack("!H", ethertype) + payload


def _addr(ip: str | IPAddress) -> IPAddress:
    return ip if not isinstance(ip, str) else ipaddress.ip_address(ip)


def _pseudo_header(src: IPAddress, dst: IPAddress, proto: int, length: int) -> bytes:
    if src.version == 4:
        return src.packed + dst.packed + struct.pack("!BBH", 0, proto, length)
    return src.packed + dst.packed + struct.pack("!I3xB", length, proto)


def ip_packet(
    src: str | IPAddress,
    dst: str | IPAddress,
    proto: int,
    payload: bytes,
    *,
    ttl: int = 64,
    ident: int = 0,
    dont_fragment: bool = True,
) -> bytes:
    """An IPv4 (header checksum filled in) or IPv6 packet, chosen by the address family."""
    s, d = _addr(src), _addr(dst)
    if s.version != d.version:
        raise ValueError(f"mixed address families: {s} -> {d}")
    if s.version == 6:
        head = struct.pack("!IHBB", 6 << 28, len(payload), proto, ttl)
        return head + s.packed + d.packed + payload
    flags = 0x4000 if dont_fragment else 0
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, flags, ttl, proto, 0,
        s.packed, d.packed,
    )  # fmt: skip
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:] + payload


def tcp_segment(
    src: str | IPAddress,
    dst: str | IPAddress,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    *,
    window: int = 64240,
    options: bytes = b"",
) -> bytes:
    """A TCP header + payload with the checksum computed over the pseudo-header."""
    if len(options) % 4:
        options += b"\x00" * (4 - len(options) % 4)
    offset = (20 + len(options)) // 4
    head = struct.pack(
        "!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags,
        window, 0, 0,
    ) + options  # fmt: skip
    seg = head + payload
    pseudo = _pseudo_header(_addr(src), _addr(dst), PROTO_TCP, len(seg))
    return seg[:16] + struct.pack("!H", checksum(pseudo + seg)) + seg[18:]


def udp_datagram(
    src: str | IPAddress, dst: str | IPAddress, sport: int, dport: int, payload: bytes
) -> bytes:
    """A UDP header + payload with its checksum (0 is sent as 0xFFFF, RFC 768)."""
    length = 8 + len(payload)
    dgram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    csum = checksum(_pseudo_header(_addr(src), _addr(dst), PROTO_UDP, length) + dgram) or 0xFFFF
    return dgram[:6] + struct.pack("!H", csum) + dgram[8:]


def ip_frame(
    src_mac: str, dst_mac: str, src: str, dst: str, proto: int, l4: bytes, **ip_kw: int
) -> bytes:
    """Wrap an already-built TCP/UDP payload in IP and Ethernet."""
    ethertype = ETH_IPV6 if _addr(src).version == 6 else ETH_IPV4
    return ethernet(src_mac, dst_mac, ethertype, ip_packet(src, dst, proto, l4, **ip_kw))


def udp_frame(
    src_mac: str, dst_mac: str, src: str, dst: str, sport: int, dport: int, payload: bytes,
    **ip_kw: int,
) -> bytes:  # fmt: skip
    """A whole Ethernet/IP/UDP frame."""
    l4 = udp_datagram(src, dst, sport, dport, payload)
    return ip_frame(src_mac, dst_mac, src, dst, PROTO_UDP, l4, **ip_kw)


SYN_OPTIONS = bytes.fromhex("020405b40103030801010402")  # MSS 1460, WS 8, SACK ok


@dataclass
class TcpSession:
    """Build one TCP conversation packet by packet, with correct seq/ack numbers.

    ``now_us`` is the clock: every packet is stamped with it, then the clock moves on by
    ``gap_us`` (half an RTT by default) unless a call says otherwise. ``records`` holds
    the frames in order.
    """

    client: str
    client_port: int
    server: str
    server_port: int
    now_us: int
    client_mac: str = "00:0c:29:00:00:01"
    server_mac: str = "00:0c:29:00:00:02"
    client_isn: int = 1_000_000
    server_isn: int = 2_000_000
    gap_us: int = 500
    mss: int = 1460
    client_ttl: int = 128
    server_ttl: int = 128
    ident: int = 0x1000
    records: list[Record] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._seq = {True: self.client_isn, False: self.server_isn}

    def _emit(self, from_client: bool, flags: int, payload: bytes = b"", **kw: bytes) -> None:
        c, s = (self.client, self.client_port), (self.server, self.server_port)
        (src, sport), (dst, dport) = (c, s) if from_client else (s, c)
        ack = self._seq[not from_client] if flags & ACK else 0
        seg = tcp_segment(src, dst, sport, dport, self._seq[from_client], ack, flags, payload, **kw)
        macs = (self.client_mac, self.server_mac)
        src_mac, dst_mac = macs if from_client else macs[::-1]
        ttl = self.client_ttl if from_client else self.server_ttl
        frame = ip_frame(src_mac, dst_mac, src, dst, PROTO_TCP, seg, ttl=ttl, ident=self.ident)
        self.ident += 1
        self.records.append(Record(self.now_us, frame))
        self.now_us += self.gap_us
        self._seq[from_client] += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def wait(self, us: int) -> TcpSession:
        """Let ``us`` microseconds pass before the next packet."""
        self.now_us += us
        return self

    def syn(self, window: int = 64240) -> TcpSession:
        """Only the client's SYN (e.g. a port probe)."""
        self._emit(True, SYN, window=window, options=SYN_OPTIONS)
        return self

    def syn_ack(self) -> TcpSession:
        """The server's SYN-ACK answering :meth:`syn`."""
        self._emit(False, SYN | ACK, window=65535, options=SYN_OPTIONS)
        return self

    def handshake(self) -> TcpSession:
        """SYN, SYN-ACK, ACK."""
        self.syn().syn_ack()
        self._emit(True, ACK)
        return self

    def send(self, data: bytes, from_client: bool = True, *, ack: bool = True) -> TcpSession:
        """Send ``data`` in MSS-sized segments (PSH on the last), then the peer ACKs."""
        chunks = [data[i : i + self.mss] for i in range(0, len(data), self.mss)] or [b""]
        for i, chunk in enumerate(chunks):
            self._emit(from_client, ACK | (PSH if i == len(chunks) - 1 else 0), chunk)
        if ack:
            self._emit(not from_client, ACK)
        return self

    def close(self, from_client: bool = True) -> TcpSession:
        """Orderly close: FIN-ACK, FIN-ACK from the peer, final ACK."""
        self._emit(from_client, FIN | ACK)
        self._emit(not from_client, FIN | ACK)
        self._emit(from_client, ACK)
        return self

    def reset(self, from_client: bool = True, *, with_ack: bool = False) -> TcpSession:
        """Abort with RST (RST-ACK when ``with_ack``)."""
        self._emit(from_client, RST | (ACK if with_ack else 0), window=0)
        return self


def pcap_bytes(records: Iterable[Record], linktype: int = LINKTYPE_ETHERNET) -> bytes:
    """A whole classic pcap file (little-endian, microsecond resolution) as bytes."""
    out = [struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, linktype)]
    for rec in records:
        sec, usec = divmod(rec.ts_us, 1_000_000)
        caplen = min(len(rec.data), SNAPLEN)
        out.append(struct.pack("<IIII", sec, usec, caplen, len(rec.data)))
        out.append(rec.data[:caplen])
    return b"".join(out)


def write_pcap(path: str | Path, records: Iterable[Record]) -> Path:
    """Write ``records`` (in the given order) to ``path`` as a classic pcap file."""
    path = Path(path)
    path.write_bytes(pcap_bytes(records))
    return path


def read_pcap(path: str | Path) -> tuple[int, list[Record]]:
    """Read a classic pcap (either byte order, µs or ns) → ``(linktype, records)``."""
    raw = Path(path).read_bytes()
    if len(raw) < 24:
        raise ValueError("file shorter than a pcap header")
    for endian in "<>":
        magic = struct.unpack(endian + "I", raw[:4])[0]
        if magic in (PCAP_MAGIC, 0xA1B23C4D):
            break
    else:
        raise ValueError("not a classic pcap file")
    divisor = 1 if magic == PCAP_MAGIC else 1000
    linktype = struct.unpack(endian + "I", raw[20:24])[0]
    records, pos = [], 24
    while pos + 16 <= len(raw):
        sec, frac, caplen, _ = struct.unpack(endian + "IIII", raw[pos : pos + 16])
        data = raw[pos + 16 : pos + 16 + caplen]
        if len(data) < caplen:
            raise ValueError(f"truncated packet at offset {pos}")
        records.append(Record(sec * 1_000_000 + frac // divisor, data))
        pos += 16 + caplen
    return linktype, records
