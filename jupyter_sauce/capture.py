"""Look at a capture file before Suricata does: format, byte order, resolution, link type.

``inspect_capture(path)`` reads the file once (hashing it and walking its record headers)
and returns a :class:`CaptureInfo`; a file that is not a capture raises
:class:`~jupyter_sauce.errors.CaptureError` naming the file and what it looks like.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import CaptureError

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("little", "us"),
    b"\xa1\xb2\xc3\xd4": ("big", "us"),
    b"\x4d\x3c\xb2\xa1": ("little", "ns"),
    b"\xa1\xb2\x3c\x4d": ("big", "ns"),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

# Link types Suricata 7 decodes from capture files (DLT numbers as written in pcap headers).
LINK_TYPES = {
    0: "NULL (BSD loopback)",
    1: "Ethernet",
    9: "PPP",
    12: "raw IP",
    14: "raw IP",
    101: "raw IP",
    104: "Cisco HDLC",
    113: "Linux cooked (SLL)",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux cooked v2 (SLL2)",
}
LINK_NAMES_UNSUPPORTED = {
    105: "IEEE 802.11 wireless",
    127: "IEEE 802.11 radiotap",
    147: "user-defined (DLT_USER0)",
    195: "IEEE 802.15.4",
    220: "USB Linux",
    249: "Netlink",
}

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")

_SIGNATURES = [
    (b"PK\x03\x04", "a zip archive"),
    (b"\x1f\x8b", "a gzip-compressed file (decompress it first)"),
    (b"BZh", "a bzip2-compressed file (decompress it first)"),
    (b"\xfd7zXZ\x00", "an xz-compressed file (decompress it first)"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file (decompress it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive"),
    (b"%PDF", "a PDF document"),
    (b"\x7fELF", "an ELF executable"),
    (b"MZ", "a Windows executable"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"PAR1", "a Parquet file"),
]


@dataclass
class CaptureInfo:
    """What a capture file is. ``warnings`` name truncation or corruption found in its records."""

    path: str
    name: str
    size: int
    sha256: str
    format: str  # "pcap" | "pcapng"
    byte_order: str  # "little" | "big"
    resolution: str  # "us" | "ns" (pcapng: per interface; reported as the first)
    link_types: list[int]
    packets: int
    first_ts: float | None = None
    last_ts: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def link_names(self) -> list[str]:
        return [LINK_TYPES.get(lt, f"link type {lt}") for lt in self.link_types]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["link_names"] = self.link_names
        return out


def describe_content(head: bytes) -> str:
    """Say what a non-capture file looks like, from its first bytes."""
    if not head:
        return "an empty file (0 bytes)"
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return what
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        return "a JSON text file"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head) / len(head)
        return "a text file" if printable > 0.95 else "a binary file of unknown type"
    return "a text file"


def check_capture_path(path: Path) -> None:
    """CaptureError unless ``path`` is an existing, readable regular file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CaptureError(f"Capture {str(path)!r} does not exist.") from None
    except PermissionError:
        raise CaptureError(f"Capture {str(path)!r} cannot be read (permission denied).") from None
    except OSError as exc:
        why = exc.strerror or exc
        raise CaptureError(f"Capture {str(path)!r} cannot be read: {why}.") from None
    if stat.S_ISDIR(st.st_mode):
        raise CaptureError(f"Capture {str(path)!r} is a directory, not a capture file.")
    if not stat.S_ISREG(st.st_mode):
        raise CaptureError(f"Capture {str(path)!r} is not a regular file.")
    if not os.access(path, os.R_OK):
        raise CaptureError(f"Capture {str(path)!r} cannot be read (permission denied).")


def inspect_capture(path: str | os.PathLike) -> CaptureInfo:
    """Identify and hash a capture; raise CaptureError when it is not one Suricata can read."""
    p = Path(path)
    check_capture_path(p)
    try:
        with p.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(64)
            magic = head[:4]
            if magic in PCAP_MAGICS:
                info = _walk_pcap(fh, p, size, *PCAP_MAGICS[magic])
            elif magic == PCAPNG_MAGIC:
                info = _walk_pcapng(fh, p, size)
            else:
                raise CaptureError(
                    f"{p.name!r} is not a pcap or pcapng capture; it looks like "
                    f"{describe_content(head)}."
                )
            info.sha256 = _sha256(fh)
    except PermissionError as exc:
        raise CaptureError(f"Capture {str(p)!r} cannot be read (permission denied).") from exc
    except OSError as exc:
        raise CaptureError(f"Capture {str(p)!r} cannot be read: {exc.strerror or exc}.") from exc
    for lt in info.link_types:
        if lt not in LINK_TYPES:
            name = LINK_NAMES_UNSUPPORTED.get(lt, "unknown")
            raise CaptureError(
                f"{p.name!r} uses link type {lt} ({name}), which Suricata cannot decode from "
                f"a file; supported: Ethernet, raw IP, Linux cooked, NULL, PPP, Cisco HDLC."
            )
    if len(info.link_types) > 1:
        raise CaptureError(
            f"{p.name!r} mixes interfaces of link types {', '.join(info.link_names)}; "
            "Suricata reads one link type per capture file (split it, e.g. with editcap)."
        )
    late = [ts for ts in (info.first_ts, info.last_ts) if ts is not None and ts > LAST_TIME]
    if late:  # Suricata writes them, as 5-digit years no datetime can hold
        info.warnings.append(
            "Packet times in the capture lie after the year 9999 (a damaged capture or a "
            "wrong time resolution); alerts on those packets cannot be read."
        )
    return info


#: 9999-12-31T23:59:59Z, the last time a datetime (and so a result table) can hold
LAST_TIME = 253402300799


def _sha256(fh) -> str:
    fh.seek(0)
    digest = hashlib.sha256()
    while chunk := fh.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def _map(fh, size: int):
    return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""


def _walk_pcap(fh, p: Path, size: int, order: str, resolution: str) -> CaptureInfo:
    if size < 24:
        raise CaptureError(f"{p.name!r} is a pcap file cut short inside its 24-byte header.")
    end = "<" if order == "little" else ">"
    buf = _map(fh, size)
    try:
        (_, major, minor, _, _, snaplen, linktype) = struct.unpack_from(end + "IHHiIII", buf, 0)
        if not ((major == 2 and minor <= 4) or (major, minor) == (543, 0)):  # as libpcap
            raise CaptureError(
                f"{p.name!r} is a pcap file of version {major}.{minor}, which Suricata cannot "
                f"read (it reads version 2.4)."
            )
        info = CaptureInfo(
            str(p), p.name, size, "", "pcap", order, resolution, [linktype & 0xFFFF], 0
        )
        div = 1e9 if resolution == "ns" else 1e6
        rec = struct.Struct(end + "IIII")
        limit = max(snaplen, 262144) if snaplen else 262144
        off = 24
        while off < size:
            if off + 16 > size:
                info.warnings.append(
                    f"The capture is truncated: a record header at byte {off} is cut short "
                    f"after {info.packets} packets."
                )
                break
            sec, frac, caplen, _origlen = rec.unpack_from(buf, off)
            if caplen > limit:
                info.warnings.append(
                    f"The capture is corrupt after {info.packets} packets: the record at byte "
                    f"{off} claims {caplen} bytes; Suricata reads only what comes before it."
                )
                break
            if off + 16 + caplen > size:
                info.warnings.append(
                    f"The capture is truncated: packet {info.packets + 1} at byte {off} is cut "
                    f"short ({size - off - 16} of {caplen} bytes)."
                )
                break
            ts = sec + frac / div
            if info.first_ts is None:
                info.first_ts = ts
            info.last_ts = ts
            info.packets += 1
            off += 16 + caplen
        return info
    finally:
        if isinstance(buf, mmap.mmap):
            buf.close()


# smallest valid length of the pcapng blocks whose body is read (type -> bytes)
_PCAPNG_MIN_BLOCK = {1: 20, 2: 32, 3: 16, 6: 32}


def _walk_pcapng(fh, p: Path, size: int) -> CaptureInfo:
    if size < 28:
        raise CaptureError(f"{p.name!r} is a pcapng file cut short inside its first block.")
    buf = _map(fh, size)
    try:
        bom = bytes(buf[8:12])
        if bom == b"\x4d\x3c\x2b\x1a":
            order, end = "little", "<"
        elif bom == b"\x1a\x2b\x3c\x4d":
            order, end = "big", ">"
        else:
            raise CaptureError(f"{p.name!r} starts like pcapng but has no valid byte-order magic.")
        info = CaptureInfo(str(p), p.name, size, "", "pcapng", order, "us", [], 0)
        resolutions: list[float] = []
        off = 0
        hdr = struct.Struct(end + "II")
        while off < size:
            if off + 12 > size:
                info.warnings.append(
                    f"The capture is truncated: a block at byte {off} is cut short."
                )
                break
            btype, blen = hdr.unpack_from(buf, off)
            if btype == 0x0A0D0D0A and off:
                bom = bytes(buf[off + 8 : off + 12])
                end = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
                hdr = struct.Struct(end + "II")
                btype, blen = hdr.unpack_from(buf, off)
            too_short = blen < _PCAPNG_MIN_BLOCK.get(btype, 12)
            if too_short or blen % 4 or off + blen > size:
                if not info.link_types:  # libpcap reads up to the first IDB when opening
                    raise CaptureError(
                        f"{p.name!r} is a pcapng file that is corrupt at byte {off}, before "
                        f"its first interface description; Suricata cannot open it."
                    )
                info.warnings.append(
                    f"The capture is corrupt or truncated at byte {off} after {info.packets} "
                    f"packets; Suricata reads only what comes before it."
                )
                break
            if btype == 1:  # interface description block
                linktype = struct.unpack_from(end + "H", buf, off + 8)[0]
                info.link_types.append(linktype)
                resolutions.append(_if_tsresol(buf, off, blen, end))
            elif btype in (3, 6, 2) and not info.link_types:
                raise CaptureError(
                    f"{p.name!r} is a pcapng file with a packet before any interface "
                    f"description (byte {off}); Suricata cannot open it."
                )
            elif btype in (3, 6, 2):  # simple / enhanced / obsolete packet block
                info.packets += 1
                if btype == 6:
                    iface, hi, lo = struct.unpack_from(end + "III", buf, off + 8)
                    if iface >= len(resolutions):
                        info.packets -= 1
                        info.warnings.append(
                            f"The capture is corrupt after {info.packets} packets: the packet "
                            f"at byte {off} names interface {iface}, which the capture does "
                            "not describe; Suricata reads only what comes before it."
                        )
                        break
                    div = resolutions[iface]
                    ts = ((hi << 32) | lo) / div
                    if info.first_ts is None:
                        info.first_ts = ts
                    info.last_ts = ts
            off += blen
        if resolutions and resolutions[0] == 1e9:
            info.resolution = "ns"
        info.link_types = sorted(set(info.link_types))
        return info
    finally:
        if isinstance(buf, mmap.mmap):
            buf.close()


def _if_tsresol(buf, off: int, blen: int, end: str) -> float:
    """The interface's timestamp divisor from its if_tsresol option (default microseconds)."""
    pos, stop = off + 16, off + blen - 4
    while pos + 4 <= stop:
        code, length = struct.unpack_from(end + "HH", buf, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = buf[pos + 4]
            return float(2 ** (v & 0x7F)) if v & 0x80 else float(10**v)
        pos += 4 + length + (-length % 4)
    return 1e6
