"""Parse Suricata ``fast.log`` into the alert frame of :mod:`.frames`.

One alert per line::

    MM/DD/YYYY-HH:MM:SS.ffffff  [**] [gid:sid:rev] MSG [**] [Classification: C] \
        [Priority: N] {PROTO} SRC:SPORT -> DST:DPORT

(one line; wrapped here).

Variants handled (all seen in real Suricata 7 output):

- ``[Drop] `` before ``[**]`` (IPS mode) gives action ``"blocked"``. ``[wDrop] `` ("would
  drop", IDS mode) gives ``"allowed"``: that is what eve.json writes for the same alert
  of a ``drop`` rule in IDS mode (checked with Suricata 7.0.10). Caveat: for a ``reject``
  rule in IDS mode eve writes ``"blocked"`` while fast.log also prints ``[wDrop]``, so
  such rows can differ; fast.log cannot tell the two apart.
- IPv6 addresses printed fully expanded with ``:port`` appended: split on the last colon,
  written in canonical compressed form like :mod:`.eve` (:func:`.eve.canonical_ip`).
- Ports only for TCP, UDP and SCTP (:data:`.eve.PORT_PROTOCOLS`); ICMP type/code and the
  ``0`` of IGMP, GRE, ... in the port slots give null ports, as in the eve frame.
- ``[Classification: (null)]`` gives a null category.
- ``{PROTO:253}`` (no protocol name known) gives proto ``"253"``, as eve writes it.
- Decoder-event alerts (``[**] [Raw pkt: ...]`` instead of ``{PROTO} SRC -> DST``) have
  null proto, addresses and ports.
- Messages may contain brackets.

fast.log timestamps have no zone: Suricata writes the sensor's local time. We run
Suricata with ``TZ=UTC``, so the default ``tz="UTC"`` is right for our own logs; for
third-party logs pass the sensor's zone (an IANA name such as ``"America/New_York"`` or
a fixed offset such as ``"-05:00"``) and timestamps are converted to UTC.

Columns fast.log lacks (flow_id, app_proto, http_*, tls_sni, dns_query) are null.
Every non-blank line that does not match is a :class:`frames.ParseProblem`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .addresses import canonical_of
from .eve import PORT_PROTOCOLS, PROBLEM_TEXT_CHARS
from .frames import ALERT_SCHEMA, TS, ParseProblem, ParseReport, table_to_frame

__all__ = ["FastLogResult", "parse_file", "parse_text"]

_LINE = re.compile(
    r"^(?P<mo>\d{2})/(?P<d>\d{2})/(?P<y>\d{4})-(?P<hms>\d{2}:\d{2}:\d{2})(?P<frac>\.\d{1,6})?"
    r"\s+(?:\[(?P<drop>w?Drop)\]\s+)?"
    r"\[\*\*\]\s+\[(?P<gid>\d+):(?P<sid>\d+):(?P<rev>\d+)\]\s+(?P<msg>.*?)\s+\[\*\*\]\s+"
    r"(?:\[Classification:\s?(?P<cls>.*?)\]\s+)?"
    r"\[Priority:\s?(?P<prio>\d+)\]\s*(?P<rest>.*?)\s*$"
)
_ADDRS = re.compile(r"^\{(?P<proto>[^{}]+)\}\s+(?P<src>\S+)\s+->\s+(?P<dst>\S+)$")
_DECODER = re.compile(r"^\[\*\*\]\s+\[Raw pkt:")

_INT64_MAX = 2**63 - 1


@dataclass
class FastLogResult:
    """Alerts of one fast.log and what was read."""

    alerts: pd.DataFrame
    report: ParseReport


def parse_text(text: str, *, tz: str = "UTC") -> FastLogResult:
    """Parse fast.log content; ``tz`` is the zone its timestamps were written in."""
    lines = text.split("\n") if text else []
    return _parse_lines(lines, tz, ends_with_newline=text.endswith("\n"))


def parse_file(path: str | os.PathLike[str], *, tz: str = "UTC") -> FastLogResult:
    """Parse a fast.log file; ``tz`` is the zone its timestamps were written in."""
    data = Path(path).read_bytes().decode("utf-8", errors="replace")
    return parse_text(data, tz=tz)


def _split_addr(text: str) -> tuple[str, int]:
    """``1.2.3.4:80`` / ``fe80:0000:...:0001:546`` -> (canonical address, port)."""
    addr, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"no :port in {text!r:.60}")
    try:
        canonical = canonical_of(ipaddress.ip_address(addr))
    except ValueError:
        raise ValueError(f"not an IP address: {addr!r:.60}") from None
    return canonical, int(port)


def _proto(text: str) -> str:
    """``TCP`` -> ``TCP``; ``PROTO:003`` -> ``3`` (eve writes unnamed protocols as numbers)."""
    if text.startswith("PROTO:") and text[6:].isdigit():
        return str(int(text[6:]))
    return text


def _parse_lines(lines: list[str], tz: str, *, ends_with_newline: bool) -> FastLogResult:
    if ends_with_newline:
        lines = lines[:-1]  # the empty string after the final newline is not a line
    report = ParseReport(lines=len(lines))
    names = [n for n in ALERT_SCHEMA.names]
    cols: dict[str, list[Any]] = {n: [] for n in names}
    stamps: list[str] = []
    for line_no, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            report.skipped_blank += 1
            continue
        try:
            row, stamp = _parse_line(line)
        except ValueError as exc:
            truncated = line_no == len(lines) and not ends_with_newline
            reason = f"truncated last line: {exc}" if truncated else str(exc)
            report.problems.append(ParseProblem(line_no, reason, line[:PROBLEM_TEXT_CHARS]))
            continue
        for n in names:
            cols[n].append(row.get(n))
        stamps.append(stamp)
        report.records += 1

    local = pa.array(stamps, pa.string()).cast(pa.timestamp("us"))
    if tz == "UTC":
        utc = local.cast(TS)
    else:
        utc = pc.assume_timezone(local, tz, ambiguous="earliest", nonexistent="earliest").cast(TS)
    arrays = [
        utc if f.name == "timestamp" else pa.array(cols[f.name], f.type) for f in ALERT_SCHEMA
    ]
    return FastLogResult(table_to_frame(pa.table(arrays, schema=ALERT_SCHEMA)), report)


def _parse_line(line: str) -> tuple[dict[str, Any], str]:
    """One alert line -> (column values, ISO local timestamp); ValueError if malformed."""
    m = _LINE.match(line)
    if m is None:
        raise ValueError("not a fast.log alert line")
    stamp = f"{m['y']}-{m['mo']}-{m['d']}T{m['hms']}{m['frac'] or ''}"
    gid, sid, rev, prio = int(m["gid"]), int(m["sid"]), int(m["rev"]), int(m["prio"])
    if max(gid, sid, rev, prio) > _INT64_MAX:
        raise ValueError("number out of range")
    cls = m["cls"]
    row: dict[str, Any] = {
        "signature": m["msg"],
        "signature_id": sid,
        "rev": rev,
        "gid": gid,
        "category": None if cls in (None, "", "(null)") else cls,
        "severity": prio,
        "action": "blocked" if m["drop"] == "Drop" else "allowed",
    }
    rest = m["rest"]
    a = _ADDRS.match(rest)
    if a is not None:
        proto = _proto(a["proto"])
        src_ip, src_port = _split_addr(a["src"])
        dest_ip, dest_port = _split_addr(a["dst"])
        has_ports = proto.upper() in PORT_PROTOCOLS
        row.update(
            proto=proto,
            src_ip=src_ip,
            dest_ip=dest_ip,
            src_port=src_port if has_ports else None,
            dest_port=dest_port if has_ports else None,
        )
    elif not _DECODER.match(rest):
        raise ValueError(f"unexpected text after the priority: {rest[:60]!r}")
    try:
        pa.scalar(stamp).cast(pa.timestamp("us"))
    except pa.ArrowInvalid:
        raise ValueError(f"bad timestamp {stamp!r}") from None
    return row, stamp
