"""Parse Suricata ``eve.json`` into the alert and flow frames of :mod:`.frames`.

``parse_text(text)`` and ``parse_file(path)`` return an :class:`EveResult`: the
``alert`` events as a frame with :data:`frames.ALERT_SCHEMA`, the ``flow`` events with
:data:`frames.FLOW_SCHEMA`, a :class:`frames.ParseReport`, and how many events of each
``event_type`` were read (dns, http, stats, ... are counted, not reported as problems).

Normalisation, shared with :mod:`.fastlog` so both frames agree row for row:

- timestamps are converted to UTC (eve writes local offsets such as ``-0500``);
- IPv6 addresses are written in canonical compressed form (Suricata prints them fully
  expanded, ``fe80:0000:...``); see :func:`canonical_ip`;
- ports are null unless the protocol has ports (TCP, UDP, SCTP): eve has no ports for
  ICMP (``icmp_type``/``icmp_code`` instead), older Suricata 7 releases print ``0`` for
  IGMP, and fast.log prints ICMP type/code or ``0`` in the port slots;
- an empty ``alert.category`` (no classtype) is null, like fast.log's ``(null)``;
- ``dns_query`` is ``dns.queries[0].rrname`` (eve v3, Suricata 8),
  ``dns.query[0].rrname`` (Suricata 7 alerts) or ``dns.rrname`` (eve v2 dns events).

Every non-blank line that is not a JSON object, has no string ``event_type``, or is an
alert/flow whose needed fields are missing or of the wrong type becomes a
:class:`frames.ParseProblem` (1-based line number, reason, first 200 characters); such a
line gives no row. ``report.lines == report.records + report.skipped_blank +
report.bad_lines`` always holds.

Two paths produce identical frames. The fast path (:mod:`.eve_arrow`) reads the input
with ``pyarrow.json`` (C++, multithreaded) using an explicit schema of only the needed
fields, a chunk of lines at a time to bound memory. When the input is not clean (a bad
line, a type conflict in a needed field, a missing needed field, two objects on one
line) it falls back to a per-line ``orjson`` path that records every problem. A
truncated last line (Suricata still writing, or killed) is handled without falling
back: it is reported and the rest goes through the fast path.
"""

from __future__ import annotations

import io
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa

from .eve_arrow import (
    PORT_PROTOCOLS,
    RAW_ALERT_SCHEMA,
    NotClean,
    canonical_ip,
    canonical_ip_array,
    finish_alerts,
    finish_flows,
    read_events,
)
from .frames import (
    ALERT_SCHEMA,
    FLOW_SCHEMA,
    TS,
    ParseProblem,
    ParseReport,
    empty_frame,
    table_to_frame,
)

log = logging.getLogger(__name__)

__all__ = [
    "EveResult",
    "PORT_PROTOCOLS",
    "canonical_ip",
    "canonical_ip_array",
    "parse_file",
    "parse_text",
]

#: How many characters of a bad line a :class:`ParseProblem` keeps.
PROBLEM_TEXT_CHARS = 200

# How much of the end of a file is read to look at its last line.
_TAIL_BYTES = 1 << 20

# Per-line (fallback) extraction: column -> (path in the event, kind).
_ALERT_FIELDS: tuple[tuple[str, tuple[Any, ...], str], ...] = (
    ("timestamp", ("timestamp",), "ts"),
    ("signature", ("alert", "signature"), "str"),
    ("signature_id", ("alert", "signature_id"), "int"),
    ("rev", ("alert", "rev"), "int"),
    ("gid", ("alert", "gid"), "int"),
    ("category", ("alert", "category"), "str"),
    ("severity", ("alert", "severity"), "int"),
    ("action", ("alert", "action"), "str"),
    ("proto", ("proto",), "str"),
    ("app_proto", ("app_proto",), "str"),
    ("src_ip", ("src_ip",), "str"),
    ("src_port", ("src_port",), "int"),
    ("dest_ip", ("dest_ip",), "str"),
    ("dest_port", ("dest_port",), "int"),
    ("flow_id", ("flow_id",), "int"),
    ("http_hostname", ("http", "hostname"), "str"),
    ("http_url", ("http", "url"), "str"),
    ("http_user_agent", ("http", "http_user_agent"), "str"),
    ("tls_sni", ("tls", "sni"), "str"),
    ("dns_queries0", ("dns", "queries", 0, "rrname"), "str"),
    ("dns_query0", ("dns", "query", 0, "rrname"), "str"),
    ("dns_rrname", ("dns", "rrname"), "str"),
)

_ALERT_REQUIRED = ("timestamp", "signature_id")

_FLOW_FIELDS: tuple[tuple[str, tuple[Any, ...], str], ...] = (
    ("flow_id", ("flow_id",), "int"),
    ("src_ip", ("src_ip",), "str"),
    ("src_port", ("src_port",), "int"),
    ("dest_ip", ("dest_ip",), "str"),
    ("dest_port", ("dest_port",), "int"),
    ("proto", ("proto",), "str"),
    ("app_proto", ("app_proto",), "str"),
    ("pkts_toserver", ("flow", "pkts_toserver"), "int"),
    ("pkts_toclient", ("flow", "pkts_toclient"), "int"),
    ("bytes_toserver", ("flow", "bytes_toserver"), "int"),
    ("bytes_toclient", ("flow", "bytes_toclient"), "int"),
    ("start", ("flow", "start"), "ts"),
    ("end", ("flow", "end"), "ts"),
    ("state", ("flow", "state"), "str"),
    ("alerted", ("flow", "alerted"), "bool"),
)
_FLOW_REQUIRED = ("flow",)

_TRUNCATED = "truncated last line (no newline, invalid JSON)"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass
class EveResult:
    """Alerts and flows of one eve.json, what was read, and the event types seen."""

    alerts: pd.DataFrame
    flows: pd.DataFrame
    report: ParseReport
    event_counts: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- public API


def parse_text(text: str) -> EveResult:
    """Parse eve.json content (one JSON event per line)."""
    return _parse_bytes(text.encode("utf-8", errors="surrogateescape"))


def parse_file(path: str | os.PathLike[str]) -> EveResult:
    """Parse an eve.json file."""
    path = Path(path)
    size = path.stat().st_size
    tail = _read_tail(path, size)
    try:
        with open(path, "rb") as fh:
            return _fast_parse(fh, size, tail)
    except NotClean:
        with open(path, "rb") as fh:
            return _slow_parse(_split_lines(_iter_chunks(fh)))


def _frames(alerts: list[pa.Table], flows: list[pa.Table]) -> tuple[pd.DataFrame, pd.DataFrame]:
    a = pa.concat_tables(alerts) if alerts else None
    f = pa.concat_tables(flows) if flows else None
    return (
        table_to_frame(a) if a is not None else empty_frame(ALERT_SCHEMA),
        table_to_frame(f) if f is not None else empty_frame(FLOW_SCHEMA),
    )


# ---------------------------------------------------------------------------- fast path


def _read_tail(path: Path, size: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(max(0, size - _TAIL_BYTES))
        return fh.read()


def _truncated_last_line(tail: bytes, size: int) -> tuple[bytes, int, str] | None:
    """If the input's last line has no newline and is not valid JSON: (line, offset, error)."""
    if not tail or tail.endswith(b"\n"):
        return None
    cut = tail.rfind(b"\n")
    if cut < 0 and len(tail) < size:
        raise NotClean  # a last line longer than the tail we read: let the slow path see
    last = tail[cut + 1 :]
    if not last.strip():
        return None
    try:
        orjson.loads(last)
    except orjson.JSONDecodeError as exc:
        return last, size - len(last), str(exc)
    return None


def _fast_parse(fh: io.BufferedIOBase, size: int, tail: bytes) -> EveResult:
    """The pyarrow path; raises NotClean whenever the per-line path must decide."""
    truncated = _truncated_last_line(tail, size)
    alerts, flows, counts, lines, blank = read_events(fh, truncated[1] if truncated else size)
    report = ParseReport(lines=lines, records=lines - blank, skipped_blank=blank)
    if truncated:
        report.lines += 1
        report.problems.append(
            _problem(report.lines, f"{_TRUNCATED}: {truncated[2]}", truncated[0])
        )
    a_frame, f_frame = _frames(alerts, flows)
    return EveResult(a_frame, f_frame, report, dict(counts))


# ---------------------------------------------------------------------------- slow path


def _parse_bytes(data: bytes) -> EveResult:
    size = len(data)
    try:
        return _fast_parse(io.BytesIO(data), size, data[-_TAIL_BYTES:])
    except NotClean:
        return _slow_parse(_split_lines([data]))


def _iter_chunks(fh: io.BufferedIOBase, size: int = 16 << 20) -> Iterator[bytes]:
    while chunk := fh.read(size):
        yield chunk


def _split_lines(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Lines (without ``\\n``) and whether each ended with a newline."""
    rest = b""
    for chunk in chunks:
        buf = rest + chunk if rest else chunk
        parts = buf.split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield part, True
    if rest:
        yield rest, False


def _problem(line_no: int, reason: str, raw: bytes) -> ParseProblem:
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    return ParseProblem(line_no, reason, text[:PROBLEM_TEXT_CHARS])


class _Columns:
    """Column lists of one output table plus the line number of each row."""

    def __init__(self, names: Iterable[str]) -> None:
        self.data: dict[str, list[Any]] = {n: [] for n in names}
        self.line_nos: list[int] = []
        self.raw: list[bytes] = []


def _extract(obj: dict[str, Any], spec: Iterable[tuple[str, tuple[Any, ...], str]]) -> list[Any]:
    """Values of the spec's fields; raises ValueError naming the first bad one."""
    values = []
    for name, path, kind in spec:
        v: Any = obj
        for key in path:
            if v is None:
                break
            if isinstance(key, int):
                if not isinstance(v, list):
                    raise ValueError(f"{'.'.join(map(str, path[: path.index(key)]))} is not a list")
                v = v[key] if len(v) > key else None
            else:
                if not isinstance(v, dict):
                    raise ValueError(
                        f"{'.'.join(map(str, path[: path.index(key)]))} is not an object"
                    )
                v = v.get(key)
        if v is not None:
            if kind == "int":
                if type(v) is not int or not _INT64_MIN <= v <= _INT64_MAX:
                    raise ValueError(f"{name}: expected an integer, got {v!r:.40}")
            elif kind == "bool":
                if type(v) is not bool:
                    raise ValueError(f"{name}: expected true/false, got {v!r:.40}")
            elif not isinstance(v, str):  # str and ts
                raise ValueError(f"{name}: expected a string, got {v!r:.40}")
        values.append(v)
    return values


def _slow_parse(lines: Iterable[tuple[bytes, bool]]) -> EveResult:
    """The per-line path: every bad line becomes a ParseProblem."""
    report = ParseReport()
    counts: Counter[str] = Counter()
    alerts = _Columns(RAW_ALERT_SCHEMA.names)
    flows = _Columns(FLOW_SCHEMA.names)
    problems: list[ParseProblem] = []
    line_no = 0
    for line, complete in lines:
        line_no += 1
        if not line.strip():
            report.skipped_blank += 1
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            what = (
                "truncated last line (no newline, invalid JSON)" if not complete else "invalid JSON"
            )
            problems.append(_problem(line_no, f"{what}: {exc}", line))
            continue
        if not isinstance(obj, dict):
            problems.append(_problem(line_no, f"not a JSON object ({type(obj).__name__})", line))
            continue
        event_type = obj.get("event_type")
        if not isinstance(event_type, str):
            problems.append(_problem(line_no, "no event_type string", line))
            continue
        try:
            if event_type == "alert":
                _add_row(alerts, obj, _ALERT_FIELDS, _ALERT_REQUIRED, line_no, line)
            elif event_type == "flow":
                if not isinstance(obj.get("flow"), dict):
                    raise ValueError("flow event without a flow object")
                _add_row(flows, obj, _FLOW_FIELDS, (), line_no, line)
        except ValueError as exc:
            problems.append(_problem(line_no, f"{event_type} event: {exc}", line))
            continue
        counts[event_type] += 1
        report.records += 1
    report.lines = line_no

    a_table = _build(alerts, RAW_ALERT_SCHEMA, problems)
    f_table = _build(flows, FLOW_SCHEMA, problems)
    # Rows dropped in _build (bad timestamps) were counted as records and event types.
    dropped_alerts = len(alerts.line_nos) - a_table.num_rows
    dropped_flows = len(flows.line_nos) - f_table.num_rows
    report.records -= dropped_alerts + dropped_flows
    for name, n in (("alert", dropped_alerts), ("flow", dropped_flows)):
        if n:
            counts[name] -= n
            if not counts[name]:
                del counts[name]
    problems.sort(key=lambda p: p.line_no)
    report.problems = problems
    a_frame, f_frame = _frames(
        [finish_alerts(a_table)] if a_table.num_rows else [],
        [finish_flows(f_table)] if f_table.num_rows else [],
    )
    return EveResult(a_frame, f_frame, report, dict(counts))


def _add_row(
    cols: _Columns,
    obj: dict[str, Any],
    spec: tuple[tuple[str, tuple[Any, ...], str], ...],
    required: tuple[str, ...],
    line_no: int,
    line: bytes,
) -> None:
    values = _extract(obj, spec)
    for (name, _path, _kind), v in zip(spec, values, strict=True):
        if v is None and name in required:
            raise ValueError(f"missing {'.'.join(map(str, _path))}")
    for (name, _path, _kind), v in zip(spec, values, strict=True):
        cols.data[name].append(v)
    cols.line_nos.append(line_no)
    cols.raw.append(line)


def _build(cols: _Columns, schema: pa.Schema, problems: list[ParseProblem]) -> pa.Table:
    """Arrow table of the collected rows; rows with unparseable timestamps become problems."""
    keep = [True] * len(cols.line_nos)
    arrays = []
    for f in schema:
        values = cols.data[f.name]
        if f.type == TS:
            arr, bad = _to_timestamps(values)
            for i in bad:
                if keep[i]:
                    keep[i] = False
                    problems.append(
                        _problem(
                            cols.line_nos[i],
                            f"{f.name}: not an ISO 8601 timestamp: {values[i]!r:.60}",
                            cols.raw[i],
                        )
                    )
        else:
            arr = pa.array(values, f.type)
        arrays.append(arr)
    table = pa.table(arrays, schema=schema)
    if not all(keep):
        table = table.filter(pa.array(keep))
    return table


def _to_timestamps(values: list[str | None]) -> tuple[pa.Array, list[int]]:
    """Strings to UTC timestamps like pyarrow's JSON reader; indices of unparseable ones."""
    strings = pa.array(values, pa.string())
    try:
        return strings.cast(TS), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        log.debug("timestamps need the per-value path")  # one of them is not ISO 8601
    out: list[Any] = []
    bad = []
    for i, s in enumerate(values):
        if s is None:
            out.append(None)
            continue
        try:
            out.append(pa.scalar(s).cast(TS))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            try:  # no zone offset: pyarrow's JSON reader takes it as UTC
                naive = pa.scalar(s).cast(pa.timestamp("us"))
                out.append(pa.scalar(naive.value, TS))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                out.append(None)
                bad.append(i)
    return pa.array([None if v is None else v.value for v in out], TS), bad
