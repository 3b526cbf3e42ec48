"""The alerts grid: perspective-python's own ``PerspectiveWidget`` over a kernel-side Table.

The Table holds the range-filtered alerts with display column names; the grid shows
the default columns and the app-layer context columns are in the Table for people to
add from the settings panel. A ``Row`` column keeps each alert's position in the case's
alert frame so the rows the grid shows (its filter and expressions) map back to frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..addresses import AddressError, canonical
from ..errors import InputError
from ..frames import ALERT_SCHEMA

#: frame column -> grid column, in the Table's order
DISPLAY_NAMES: dict[str, str] = {
    "timestamp": "Timestamp",
    "signature": "Alert",
    "category": "Classification",
    "severity": "Priority",
    "proto": "Protocol",
    "src_ip": "Source IP",
    "src_port": "Source Port",
    "dest_ip": "Destination IP",
    "dest_port": "Destination Port",
    "signature_id": "SID",
    "rev": "Rev",
    "gid": "GID",
    "action": "Action",
    "app_proto": "App Protocol",
    "flow_id": "Flow ID",
    "http_hostname": "HTTP Host",
    "http_url": "HTTP URL",
    "http_user_agent": "HTTP User-Agent",
    "tls_sni": "TLS SNI",
    "dns_query": "DNS Query",
}
ROW = "Row"
ALERT_TYPES = {field.name: field.type for field in ALERT_SCHEMA}
EMPTY_ALERTS = ALERT_SCHEMA.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
SORT_LIMIT = 200_000
"""Above this many rows the grid relies on the Table's order (newest first) instead of a
sort in the view: sorting a million rows in Perspective takes seconds, the order is free."""
# capture times are UTC: show them so, to the millisecond; ports and ids without grouping
COLUMNS_CONFIG = {
    "Timestamp": {"date_format": {
        "format": "custom", "timeZone": "UTC", "hour12": False, "year": "numeric",
        "month": "2-digit", "day": "2-digit", "hour": "2-digit", "minute": "2-digit",
        "second": "2-digit", "fractionalSecondDigits": 3}},
    **{name: {"number_format": {"useGrouping": False}}
       for name in ("Source Port", "Destination Port", "SID", "Flow ID", "Row")},
}  # fmt: skip
DEFAULT_COLUMNS = [
    "Timestamp", "Alert", "Classification", "Priority", "Protocol",
    "Source IP", "Source Port", "Destination IP", "Destination Port",
]  # fmt: skip
DEFAULT_SORT = [["Timestamp", "desc"]]
IOC_EXPRESSION = "IoC match"


def grid_table(alerts: pd.DataFrame, rows: np.ndarray | None = None) -> pa.Table:
    """Arrow table for the grid: display names, newest first, ``Row`` positions.

    ``rows`` are the positions of ``alerts``' rows in the case's frame (default 0..n-1).
    Text columns are dictionary-encoded (Perspective loads those several times faster).
    """
    columns: dict[str, pa.Array] = {}
    for name, label in DISPLAY_NAMES.items():
        if name in alerts:
            array = pa.array(alerts[name], from_pandas=True)
        else:
            array = pa.nulls(len(alerts), ALERT_TYPES.get(name, pa.string()))
        columns[label] = _compact(array)
    positions = np.arange(len(alerts)) if rows is None else np.asarray(rows)
    columns[ROW] = pa.array(positions.astype(np.int32))
    table = pa.table(columns)
    if len(table) > 1:
        order = pc.sort_indices(table, sort_keys=[("Timestamp", "descending"), (ROW, "ascending")])
        table = table.take(order)
    return table


def _compact(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The smallest lossless form for Perspective, which loads fewer bytes faster (a
    million alerts: 117 MB -> 59 MB, the load 1.2 s -> 0.9 s): text dictionary-encoded
    with the narrowest indices, integers as int32 where every value fits."""
    if isinstance(array, pa.ChunkedArray):  # e.g. a frame read from a multi-group Parquet
        array = array.combine_chunks()
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        array = pc.dictionary_encode(array)
        size = len(array.dictionary)
        index = pa.int8() if size <= 127 else pa.int16() if size <= 32767 else pa.int32()
        return pa.DictionaryArray.from_arrays(pc.cast(array.indices, index), array.dictionary)
    if pa.types.is_int64(array.type) or pa.types.is_uint32(array.type):
        low, high = pc.min_max(array).values()
        if low.as_py() is None or (low.as_py() >= -(2**31) and high.as_py() < 2**31):
            return pc.cast(array, pa.int32())  # ports, sids, priorities; not flow ids
    return array


def to_ipc(table: pa.Table) -> bytes:
    """Arrow IPC stream bytes (what ``perspective.Table.replace`` accepts)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def make_grid(alerts: pd.DataFrame):
    """A ``PerspectiveWidget`` in server binding mode over a new Table of ``alerts``.

    Newest alerts first; see :data:`SORT_LIMIT` and :func:`default_sort`.
    """
    import perspective
    from perspective.widget import PerspectiveWidget

    table = perspective.table(to_ipc(grid_table(alerts)))
    grid = PerspectiveWidget(
        table,
        binding_mode="server",
        columns=list(DEFAULT_COLUMNS),
        sort=default_sort(len(alerts)),
        columns_config=COLUMNS_CONFIG,
        settings=False,  # the settings panel stays one click away; closed, the grid has room
        title="Alerts",
    )
    # a fixed height: as a flex child of the VBox the container would otherwise collapse
    grid.layout.height = grid.layout.min_height = grid_height(len(alerts))
    grid.layout.flex = "0 0 auto"
    grid.layout.width = "100%"
    return grid


def grid_height(rows: int) -> str:
    """The grid's height for ``rows`` rows: a few alerts get a short grid, many get 480 px
    (Perspective scrolls them). The title bar and header take about 110 px, a row 24."""
    return f"{min(480, 110 + 24 * max(rows, 4))}px"


def default_sort(rows: int) -> list[list[str]]:
    """The grid's sort: time descending, or the Table's own (same) order for big tables."""
    return [list(s) for s in DEFAULT_SORT] if rows <= SORT_LIMIT else []


def ip_filter(ip: str) -> tuple[dict[str, str], list]:
    """Grid expressions and filter keeping alerts where ``ip`` is source or destination.

    ``ip`` is parsed first (:class:`~jupyter_sauce.addresses.AddressError` if it is not an
    address) and written in canonical form, as the grid holds addresses; only digits,
    hex letters, dots and colons reach the expression.
    """
    try:
        address = canonical(ip)
    except AddressError:
        raise AddressError(
            f"{ip!r} is not an IP address, so the alerts cannot be filtered to it."
        ) from None
    expr = f"\"Source IP\" == '{address}' or \"Destination IP\" == '{address}'"
    return {IOC_EXPRESSION: expr}, [IOC_EXPRESSION, "==", True]


def rows_in_view(table, filters: list, expressions: dict | list) -> np.ndarray:
    """Positions (``Row``) of the Table's rows that pass the grid's filter and expressions.

    Incomplete filter clauses the viewer syncs while someone is typing (no value yet)
    are left out, as the viewer itself does.
    """
    complete = [list(f) for f in filters if isinstance(f, list | tuple) and len(f) >= 3]
    complete = [f for f in complete if f[2] is not None and f[2] != ""]
    exprs = expressions if isinstance(expressions, dict) else {}
    try:
        view = table.view(columns=[ROW], filter=complete, expressions=exprs)
    # the filter comes from the page or from Python (``w.grid.filter = ...``): Perspective
    # refuses a bad one with its own error, a ValueError, or a bare Exception
    except Exception as exc:  # turned into the widget's one sentence, never swallowed
        reason = str(exc).removeprefix("Abort(): ").strip().rstrip(".") or type(exc).__name__
        raise InputError(f"The grid's filter cannot be applied ({reason[:200]}).") from None
    try:
        data = view.to_columns()
    finally:
        view.delete()
    return np.asarray(data.get(ROW, []), dtype=np.int64)


def describe_filter(filters: list) -> str:
    """The grid filter in words, e.g. ``Source IP == 10.0.0.1``."""
    parts = []
    for f in filters:
        if isinstance(f, list | tuple) and len(f) >= 3 and f[2] not in (None, ""):
            if f[0] == IOC_EXPRESSION:
                parts.append("IoC address")
            else:
                parts.append(f"{f[0]} {f[1]} {f[2]}")
    return ", ".join(parts)
