"""The Arrow side of :mod:`.eve`: the fast ``pyarrow.json`` path and the normalisation.

:func:`read_events` reads eve.json with ``pyarrow.json.read_json`` (C++, multithreaded)
using an explicit schema of only the needed fields and
``unexpected_field_behavior="ignore"``. The input is read a chunk of whole lines at a time
(:data:`CHUNK_BYTES`), so that the peak memory stays near the size of the result: each
chunk is parsed, split into finished alert/flow tables and dropped before the next.

Line accounting: every non-blank line must give exactly one row. A chunk whose every line
starts with ``{`` has no blank line, which two ``bytes.count`` calls show; only other
chunks (blank or CRLF-only lines, leading whitespace) have their blank lines counted
exactly. Whenever the exact answer needs the per-line path (a bad line, a type conflict
in a needed field, a missing needed field, two objects on one line, a huge line),
:class:`NotClean` is raised.

:func:`finish_alerts` and :func:`finish_flows` apply the normalisation of :mod:`.eve`
(both paths use them).
"""

from __future__ import annotations

import io
import ipaddress
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from .addresses import canonical_of
from .frames import ALERT_SCHEMA, FLOW_SCHEMA, TS

#: Protocols whose alerts/flows carry real ports; for every other protocol the port
#: columns are null (see :mod:`.eve`).
PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")

#: Bytes read (and parsed) at a time: big enough to keep both threads of the JSON reader
#: busy, small enough that the working set stays far below the size of the result.
CHUNK_BYTES = 8 << 20
# Block size of the JSON reader within a chunk (the unit of its parallelism).
_BLOCK_SIZE = 1 << 20

_STR = pa.string()
_INT = pa.int64()

# What the fast path asks pyarrow for: only the needed fields, nested as in eve.
_DNS_ITEM = pa.list_(pa.struct([("rrname", _STR)]))
READ_SCHEMA = pa.schema(
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
_READ_OPTIONS = pj.ReadOptions(use_threads=True, block_size=_BLOCK_SIZE)
_PARSE_OPTIONS = pj.ParseOptions(explicit_schema=READ_SCHEMA, unexpected_field_behavior="ignore")

# Intermediate ("raw") alert columns: the alert schema with the three dns candidates in
# place of dns_query. Both paths build this table, then finish_alerts normalises it.
DNS_RAW = ("dns_queries0", "dns_query0", "dns_rrname")
RAW_ALERT_SCHEMA = pa.schema(
    [f for f in ALERT_SCHEMA if f.name != "dns_query"] + [pa.field(n, _STR) for n in DNS_RAW]
)


class NotClean(Exception):
    """The fast path cannot give the exact answer; use the per-line path."""


# --------------------------------------------------------------------------- fast path


def read_events(fh: io.BufferedIOBase, limit: int) -> tuple[list, list, Counter[str], int, int]:
    """Parse up to ``limit`` bytes of ``fh``: (alert tables, flow tables, counts, lines, blank).

    ``lines`` counts a last line without a newline; ``blank`` the blank lines among them.
    """
    alerts: list[pa.Table] = []
    flows: list[pa.Table] = []
    counts: Counter[str] = Counter()
    lines = blank = 0
    pool = pa.default_memory_pool()
    # One buffer, reused: the unfinished last line of a chunk moves to its start.
    buf = bytearray(CHUNK_BYTES)
    view = memoryview(buf)
    filled = 0
    left = limit
    while True:
        got = fh.readinto(view[filled : filled + min(CHUNK_BYTES - filled, left)]) if left else 0
        left -= got
        end = filled + got
        last = not got
        cut = end if last else buf.rfind(b"\n", 0, end) + 1
        if not cut and not last:  # no newline yet
            if end == CHUNK_BYTES:
                raise NotClean  # a line of 16 MiB: leave it to the per-line path
            filled = end
            continue
        n, b = _count_lines(buf, cut)
        lines += n
        blank += b
        if n > b:
            table = _read_json(view[:cut])
            if table.num_rows != n - b:
                raise NotClean  # e.g. two objects on one line
            a, f = _split_table(table, counts)
            del table
            if a is not None:
                alerts.append(a)
            if f is not None:
                flows.append(f)
            pool.release_unused()  # keep the peak near the size of the result
        if last:
            return alerts, flows, counts, lines, blank
        filled = end - cut
        buf[:filled] = buf[cut:end]


def _read_json(piece: memoryview) -> pa.Table:
    """The events of ``piece`` (whole lines); the table does not refer to ``piece``."""
    try:
        return pj.read_json(
            pa.BufferReader(piece),
            read_options=_READ_OPTIONS,
            parse_options=_PARSE_OPTIONS,
            memory_pool=pa.system_memory_pool(),  # freed blocks go back to the system
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError) as exc:
        raise NotClean from exc


# ASCII whitespace as bytes.strip() sees it: a line of only these is blank.
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True


def _count_lines(buf: bytes | bytearray, end: int) -> tuple[int, int]:
    """Lines of ``buf[:end]`` (the last may lack its newline) and how many are blank."""
    if not end:
        return 0, 0
    lines = buf.count(b"\n", 0, end) + (buf[end - 1] != 10)
    if buf.count(b"\n{", 0, end) + (buf[0] == 123) == lines:
        return lines, 0  # every line starts with "{": none is blank
    arr = np.frombuffer(buf, dtype=np.uint8, count=end)
    ends = np.flatnonzero(arr == 10)
    if buf[end - 1] != 10:
        ends = np.append(ends, end)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    empty = ends == starts
    # a whitespace-only line starts and ends with whitespace; check those one by one
    maybe = ~empty & _WHITESPACE[arr[starts]] & _WHITESPACE[arr[np.maximum(ends - 1, 0)]]
    blank = int(empty.sum())
    for i in np.flatnonzero(maybe):
        if not buf[starts[i] : ends[i]].strip():
            blank += 1
    return lines, blank


def _split_table(batch: pa.Table, counts: Counter[str]) -> tuple[pa.Table | None, pa.Table | None]:
    """Count event types, check needed fields, and build finished alert/flow tables."""
    et = batch.column("event_type")
    if et.null_count:
        raise NotClean
    for item in pc.value_counts(et).to_pylist():
        counts[item["values"]] += item["counts"]
    alerts = flows = None
    is_alert = pc.equal(et, "alert")
    if pc.any(is_alert).as_py():
        sub = batch.filter(is_alert)
        alert = sub.column("alert")
        sig_id = pc.struct_field(alert, "signature_id")
        if sub.column("timestamp").null_count or sig_id.null_count:
            raise NotClean
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
        alerts = finish_alerts(pa.table(cols, schema=RAW_ALERT_SCHEMA))
    is_flow = pc.equal(et, "flow")
    if pc.any(is_flow).as_py():
        sub = batch.filter(is_flow)
        flow = sub.column("flow")
        if flow.null_count:
            raise NotClean
        top = ("flow_id", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "app_proto")
        cols = {
            name: sub.column(name) if name in top else pc.struct_field(flow, name)
            for name in FLOW_SCHEMA.names
        }
        flows = finish_flows(pa.table(cols, schema=FLOW_SCHEMA))
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


# ----------------------------------------------------------------------- normalisation


def canonical_ip(text: str) -> str:
    """The canonical form of an address (:func:`.addresses.canonical_of`): IPv6 compressed
    (``fe80::1``), IPv4-mapped as ``::ffff:a.b.c.d``, IPv4 as is.

    Text that is not an address is returned unchanged.
    """
    try:
        return canonical_of(ipaddress.ip_address(text))
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


def finish_alerts(raw: pa.Table) -> pa.Table:
    """Raw alert columns -> ALERT_SCHEMA with the normalisation of :mod:`.eve`."""
    ports_ok = _has_ports(raw.column("proto"))
    columns = []
    for f in ALERT_SCHEMA:
        name = f.name
        if name == "dns_query":
            col = pc.coalesce(*(raw.column(n) for n in DNS_RAW))
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


def finish_flows(raw: pa.Table) -> pa.Table:
    """Raw flow columns -> FLOW_SCHEMA with the normalisation of :mod:`.eve`."""
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
