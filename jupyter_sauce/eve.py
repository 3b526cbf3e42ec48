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

Two paths produce identical frames. The fast path reads the file with
``pyarrow.json`` (C++, multithreaded) using an explicit schema of only the needed fields
and ``unexpected_field_behavior="ignore"``, batch by batch to bound memory. When the
input is not clean (a bad line, a type conflict in a needed field, a missing needed
field, irregular blank lines) it falls back to a per-line ``orjson`` path that records
every problem. A truncated last line (Suricata still writing, or killed) is handled
without falling back: it is reported and the rest goes through the fast path.
"""

from __future__ import annotations

import io
import ipaddress
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .frames import (
    ALERT_SCHEMA,
    FLOW_SCHEMA,
    TS,
    ParseProblem,
    ParseReport,
    empty_frame,
    table_to_frame,
)

__all__ = [
    "EveResult",
    "PORT_PROTOCOLS",
    "canonical_ip",
    "canonical_ip_array",
    "parse_file",
    "parse_text",
]

#: Protocols whose alerts/flows carry real ports; for every other protocol the port
#: columns are null (see the module docstring).
PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")

#: How many characters of a bad line a :class:`ParseProblem` keeps.
PROBLEM_TEXT_CHARS = 200

# Block size of the pyarrow JSON reader: big enough for throughput, small enough that
# the per-batch working set stays far below the size of the result frames.
_BLOCK_SIZE = 1 << 18
# Batches are processed in groups of about this many events (per-call overhead of the
# compute kernels would dominate with one small batch at a time).
_GROUP_ROWS = 4096
# How much of the end of a file is read to look at its last line.
_TAIL_BYTES = 1 << 20

_STR = pa.string()
_INT = pa.int64()

# What the fast path asks pyarrow for: only the needed fields, nested as in eve.
_DNS_ITEM = pa.list_(pa.struct([("rrname", _STR)]))
_READ_SCHEMA = pa.schema(
    [
        ("timestamp", TS),
        ("event_type", _STR),
        ("flow_id", _INT),
        ("src_ip", _STR),
        ("src_port", _INT),
        ("dest_ip", _STR),
        ("dest_port", _INT),
        ("proto", _STR),
        ("app_proto", _STR),
        (
            "alert",
            pa.struct(
                [
                    ("signature", _STR),
                    ("signature_id", _INT),
                    ("rev", _INT),
                    ("gid", _INT),
                    ("category", _STR),
                    ("severity", _INT),
                    ("action", _STR),
                ]
            ),
        ),
        ("http", pa.struct([("hostname", _STR), ("url", _STR), ("http_user_agent", _STR)])),
        ("tls", pa.struct([("sni", _STR)])),
        ("dns", pa.struct([("rrname", _STR), ("query", _DNS_ITEM), ("queries", _DNS_ITEM)])),
        (
            "flow",
            pa.struct(
                [
                    ("pkts_toserver", _INT),
                    ("pkts_toclient", _INT),
                    ("bytes_toserver", _INT),
                    ("bytes_toclient", _INT),
                    ("start", TS),
                    ("end", TS),
                    ("state", _STR),
                    ("alerted", pa.bool_()),
                ]
            ),
        ),
    ]
)

# Intermediate ("raw") alert columns: the alert schema with the three dns candidates in
# place of dns_query. Both paths build this table, then _finish_alerts normalises it.
_DNS_RAW = ("dns_queries0", "dns_query0", "dns_rrname")
_RAW_ALERT_SCHEMA = pa.schema(
    [f for f in ALERT_SCHEMA if f.name != "dns_query"] + [pa.field(n, _STR) for n in _DNS_RAW]
)

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
        return _fast_parse(lambda: open(path, "rb"), size, tail)  # noqa: SIM115
    except _NotClean:
        with open(path, "rb") as fh:
            return _slow_parse(_split_lines(_iter_chunks(fh)))


def canonical_ip(text: str) -> str:
    """The canonical form of an address: IPv6 compressed (``fe80::1``), IPv4 as is.

    Text that is not an address is returned unchanged.
    """
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text


def canonical_ip_array(arr: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Apply :func:`canonical_ip` to a string array (only values with a ``:`` change)."""
    has_colon = pc.match_substring(arr, ":")
    if not pc.any(has_colon).as_py():
        return arr
    distinct = pc.unique(pc.filter(arr, has_colon)).to_pylist()
    mapped = pa.array([canonical_ip(v) for v in distinct], _STR)
    replaced = pc.take(mapped, pc.index_in(arr, value_set=pa.array(distinct, _STR)))
    return pc.if_else(pc.fill_null(has_colon, False), replaced, arr)


# ----------------------------------------------------------------------- normalisation


def _finish_alerts(raw: pa.Table) -> pa.Table:
    """Raw alert columns -> ALERT_SCHEMA with the normalisation of the module docstring."""
    ports_ok = _has_ports(raw.column("proto"))
    columns = []
    for f in ALERT_SCHEMA:
        name = f.name
        if name == "dns_query":
            col = pc.coalesce(*(raw.column(n) for n in _DNS_RAW))
        else:
            col = raw.column(name)
            if name in ("src_ip", "dest_ip"):
                col = canonical_ip_array(col)
            elif name in ("src_port", "dest_port"):
                col = pc.if_else(ports_ok, col, pa.scalar(None, _INT))
            elif name == "category":
                col = pc.if_else(pc.equal(col, ""), pa.scalar(None, _STR), col)
        columns.append(col if col.type == f.type else col.cast(f.type))
    return pa.table(columns, schema=ALERT_SCHEMA)


def _finish_flows(raw: pa.Table) -> pa.Table:
    ports_ok = _has_ports(raw.column("proto"))
    columns = []
    for f in FLOW_SCHEMA:
        col = raw.column(f.name)
        if f.name in ("src_ip", "dest_ip"):
            col = canonical_ip_array(col)
        elif f.name in ("src_port", "dest_port"):
            col = pc.if_else(ports_ok, col, pa.scalar(None, _INT))
        columns.append(col if col.type == f.type else col.cast(f.type))
    return pa.table(columns, schema=FLOW_SCHEMA)


def _has_ports(proto: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """True where the protocol has ports; false (not null) elsewhere."""
    return pc.fill_null(pc.is_in(pc.utf8_upper(proto), value_set=pa.array(PORT_PROTOCOLS)), False)


def _frames(alerts: list[pa.Table], flows: list[pa.Table]) -> tuple[pd.DataFrame, pd.DataFrame]:
    a = pa.concat_tables(alerts) if alerts else None
    f = pa.concat_tables(flows) if flows else None
    return (
        table_to_frame(a) if a is not None else empty_frame(ALERT_SCHEMA),
        table_to_frame(f) if f is not None else empty_frame(FLOW_SCHEMA),
    )


# ---------------------------------------------------------------------------- fast path


class _NotClean(Exception):
    """The fast path cannot give the exact answer; use the per-line path."""


# ASCII whitespace as bytes.strip() sees it: a line of only these is blank.
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True
# A line longer than this without a newline: leave the file to the per-line path.
_MAX_PARTIAL_LINE = 16 << 20


class _CountingReader(io.RawIOBase):
    """A read-only stream over ``raw`` (up to ``limit`` bytes) counting lines on the way.

    Counts newline-terminated lines and, exactly, the blank ones among them (empty or
    only whitespace, like the per-line path), so that the fast path can check that every
    non-blank line gave exactly one row.
    """

    def __init__(self, raw: io.BufferedIOBase | io.RawIOBase, limit: int) -> None:
        super().__init__()
        self._raw = raw
        self._left = limit
        self.lines = 0
        self.blank = 0
        self.partial = b""  # the bytes after the last newline read so far
        self.too_long = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        if size is None or size < 0 or size > self._left:
            size = self._left
        data = self._raw.read(size)
        if not data:
            self._left = 0
            return b""
        self._left -= len(data)
        if not self.too_long:
            self._count(data)
        return data

    def _count(self, data: bytes) -> None:
        buf = self.partial + data if self.partial else data
        arr = np.frombuffer(buf, dtype=np.uint8)
        ends = np.flatnonzero(arr == 10)
        if not len(ends):
            self.partial = buf
            self.too_long = len(buf) > _MAX_PARTIAL_LINE
            return
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        lengths = ends - starts
        empty = lengths == 0
        # a whitespace-only line starts and ends with whitespace; check those one by one
        maybe = ~empty & _WHITESPACE[arr[starts]] & _WHITESPACE[arr[np.maximum(ends - 1, 0)]]
        blank = int(empty.sum())
        for i in np.flatnonzero(maybe):
            if not buf[starts[i] : ends[i]].strip():
                blank += 1
        self.lines += len(ends)
        self.blank += blank
        self.partial = buf[int(ends[-1]) + 1 :]


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
        raise _NotClean  # a last line longer than the tail we read: let the slow path see
    last = tail[cut + 1 :]
    if not last.strip():
        return None
    try:
        orjson.loads(last)
    except orjson.JSONDecodeError as exc:
        return last, size - len(last), str(exc)
    return None


def _fast_parse(opener: Any, size: int, tail: bytes) -> EveResult:
    """The pyarrow path; raises _NotClean whenever the per-line path must decide."""
    truncated = _truncated_last_line(tail, size)
    limit = truncated[1] if truncated else size
    alerts: list[pa.Table] = []
    flows: list[pa.Table] = []
    counts: Counter[str] = Counter()
    rows = 0
    pool = pa.default_memory_pool()
    with opener() as fh:
        reader = _CountingReader(fh, limit)
        batches = None
        try:
            batches = pj.open_json(
                reader,
                read_options=pj.ReadOptions(use_threads=True, block_size=_BLOCK_SIZE),
                parse_options=pj.ParseOptions(
                    explicit_schema=_READ_SCHEMA, unexpected_field_behavior="ignore"
                ),
                memory_pool=pa.system_memory_pool(),
            )
            pending: list[pa.RecordBatch] = []
            pending_rows = 0
            for batch in _chain(batches, None):
                if batch is not None:
                    rows += batch.num_rows
                    pending.append(batch)
                    pending_rows += batch.num_rows
                    if pending_rows < _GROUP_ROWS:
                        continue
                if not pending:
                    continue
                group = pa.Table.from_batches(pending).combine_chunks()
                pending, pending_rows = [], 0
                a, f = _split_batch(group, counts)
                if a is not None:
                    alerts.append(a)
                if f is not None:
                    flows.append(f)
                pool.release_unused()  # keep the peak near the size of the result
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError) as exc:
            raise _NotClean from exc
        finally:
            if batches is not None:
                batches.close()  # stop the reader's threads before the file closes
    if reader.too_long:
        raise _NotClean
    lines, blank = reader.lines, reader.blank
    if reader.partial:  # a last line without a newline (valid JSON, or whitespace)
        lines += 1
        blank += not reader.partial.strip()
    if rows != lines - blank:
        raise _NotClean  # e.g. two objects on one line
    report = ParseReport(lines=lines, records=rows, skipped_blank=blank)
    if truncated:
        report.lines += 1
        report.problems.append(
            _problem(report.lines, f"{_TRUNCATED}: {truncated[2]}", truncated[0])
        )
    a_frame, f_frame = _frames(alerts, flows)
    return EveResult(a_frame, f_frame, report, dict(counts))


def _chain(items: Iterable[Any], last: Any) -> Iterator[Any]:
    yield from items
    yield last


def _split_batch(batch: pa.Table, counts: Counter[str]) -> tuple[pa.Table | None, pa.Table | None]:
    """Count event types, check needed fields, and build finished alert/flow tables."""
    et = batch.column("event_type")
    if et.null_count:
        raise _NotClean
    for item in pc.value_counts(et).to_pylist():
        counts[item["values"]] += item["counts"]
    alerts = flows = None
    is_alert = pc.equal(et, "alert")
    if pc.any(is_alert).as_py():
        sub = batch.filter(is_alert)
        alert = sub.column("alert")
        sig_id = pc.struct_field(alert, "signature_id")
        if sub.column("timestamp").null_count or sig_id.null_count:
            raise _NotClean
        http, tls, dns = sub.column("http"), sub.column("tls"), sub.column("dns")
        cols: dict[str, pa.Array] = {"timestamp": sub.column("timestamp")}
        for name in ("signature", "signature_id", "rev", "gid", "category", "severity", "action"):
            cols[name] = pc.struct_field(alert, name)
        for name in ("proto", "app_proto", "src_ip", "src_port", "dest_ip", "dest_port"):
            cols[name] = sub.column(name)
        cols["flow_id"] = sub.column("flow_id")
        cols["http_hostname"] = pc.struct_field(http, "hostname")
        cols["http_url"] = pc.struct_field(http, "url")
        cols["http_user_agent"] = pc.struct_field(http, "http_user_agent")
        cols["tls_sni"] = pc.struct_field(tls, "sni")
        cols["dns_queries0"] = _first_rrname(pc.struct_field(dns, "queries"))
        cols["dns_query0"] = _first_rrname(pc.struct_field(dns, "query"))
        cols["dns_rrname"] = pc.struct_field(dns, "rrname")
        alerts = _finish_alerts(pa.table(cols, schema=_RAW_ALERT_SCHEMA))
    is_flow = pc.equal(et, "flow")
    if pc.any(is_flow).as_py():
        sub = batch.filter(is_flow)
        flow = sub.column("flow")
        if flow.null_count:
            raise _NotClean
        cols = {}
        for name in FLOW_SCHEMA.names:
            if name in ("flow_id", "src_ip", "src_port", "dest_ip", "dest_port") or name in (
                "proto",
                "app_proto",
            ):
                cols[name] = sub.column(name)
            else:
                cols[name] = pc.struct_field(flow, name)
        flows = _finish_flows(pa.table(cols, schema=FLOW_SCHEMA))
    return alerts, flows


def _first_rrname(lists: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``rrname`` of each list's first element (null for null or empty lists)."""
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    nonempty = pc.fill_null(pc.greater(pc.list_value_length(lists), 0), False)
    result = pa.nulls(len(lists), _STR)
    if not pc.any(nonempty).as_py():
        return result
    first = pc.list_element(pc.filter(lists, nonempty), 0)
    return pc.replace_with_mask(result, nonempty, pc.struct_field(first, "rrname"))


# ---------------------------------------------------------------------------- slow path


def _parse_bytes(data: bytes) -> EveResult:
    size = len(data)
    try:
        return _fast_parse(lambda: io.BytesIO(data), size, data[-_TAIL_BYTES:])
    except _NotClean:
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
    alerts = _Columns(_RAW_ALERT_SCHEMA.names)
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

    a_table = _build(alerts, _RAW_ALERT_SCHEMA, problems)
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
        [_finish_alerts(a_table)] if a_table.num_rows else [],
        [_finish_flows(f_table)] if f_table.num_rows else [],
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
    strings = pa.array(values, _STR)
    try:
        return strings.cast(TS), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
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
