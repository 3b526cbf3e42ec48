"""Result tables of a run for the REST API: range filters, paging and the three encodings.

Tables: ``alerts`` and ``flows`` (the frames), ``iocs`` (every address in the filtered
alerts, :func:`~jupyter_sauce.iocs.alert_iocs`) and ``hosts`` (every host in the
filtered flows, :func:`~jupyter_sauce.iocs.host_iocs`). Encodings: JSON (paged),
CSV and the Arrow IPC stream format.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc

from ..errors import InputError, RangeError
from ..iocs import alert_iocs, host_iocs
from ..networks import RangeFilter, parse_ranges
from ..pipeline import Case

TABLES = ("alerts", "flows", "iocs", "hosts")
FILTER_FIELDS = ("include_src", "include_dst", "exclude_src", "exclude_dst")
FORMATS = {
    "json": "application/json",
    "csv": "text/csv",
    "arrow": "application/vnd.apache.arrow.stream",
}
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000


class FieldError(InputError):
    """A request field is wrong; ``field`` names it (HTTP 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def query_arguments(raw: Mapping[str, list[bytes]]) -> dict[str, str]:
    """The query's parameters as text, each given once (tornado keeps every repeat and
    its ``get_argument`` silently takes the last one)."""
    args: dict[str, str] = {}
    for name, values in raw.items():
        if len(values) > 1:
            raise FieldError(name, f"The query parameter {name!r} is given {len(values)} times.")
        try:
            args[name] = values[0].decode("utf-8")
        except UnicodeDecodeError:
            raise FieldError(name, f"The query parameter {name!r} is not UTF-8 text.") from None
    return args


def parse_filter(args: Mapping[str, str]) -> RangeFilter:
    """A RangeFilter from query arguments; a bad range is a FieldError naming its field."""
    texts = {}
    for name in FILTER_FIELDS:
        text = args.get(name, "")
        try:
            parse_ranges(text)
        except RangeError as exc:
            raise FieldError(name, f"{name}: {exc.message}") from None
        texts[name] = text
    drop = args.get("drop_unaddressed", "false").lower()
    if drop not in ("true", "false", "1", "0"):
        raise FieldError("drop_unaddressed", "drop_unaddressed must be true or false.")
    return RangeFilter.from_strings(**texts, drop_unaddressed=drop in ("true", "1"))


def parse_paging(args: Mapping[str, str], fmt: str) -> tuple[int, int | None]:
    """(offset, limit) from query arguments; JSON defaults to a page of DEFAULT_LIMIT."""
    values: dict[str, int | None] = {}
    for name, default in (("offset", 0), ("limit", DEFAULT_LIMIT if fmt == "json" else None)):
        text = args.get(name)
        if text is None or text == "":
            values[name] = default
            continue
        try:
            value = int(text)
        except ValueError:
            raise FieldError(name, f"{name} must be a whole number.") from None
        if value < 0 or (name == "limit" and value > MAX_LIMIT):
            limits = f"between 0 and {MAX_LIMIT}" if name == "limit" else "0 or more"
            raise FieldError(name, f"{name} must be {limits}.")
        values[name] = value
    return int(values["offset"] or 0), values["limit"]


def choose_format(query_format: str | None, accept: str | None) -> str:
    """``format=`` wins; else the Accept header; else JSON."""
    if query_format:
        if query_format not in FORMATS:
            raise FieldError("format", f"format must be one of {', '.join(FORMATS)}.")
        return query_format
    best, best_q = "json", 0.0
    for part in (accept or "").lower().split(","):
        media, *params = (item.strip() for item in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        fmt = next((f for f, m in FORMATS.items() if m == media), None)
        if fmt in ("arrow", "csv") and q > best_q:  # "q=0" means "not this one"
            best, best_q = fmt, q
    return best


def table(case: Case, name: str, flt: RangeFilter) -> tuple[pd.DataFrame, int]:
    """The filtered table ``name`` of ``case`` and the unfiltered row count."""
    if name == "alerts":
        return flt.apply(case.alerts), len(case.alerts)
    if name == "flows":
        return flt.apply(case.flows), len(case.flows)
    if name == "iocs":
        everything = alert_iocs(case.alerts)
        return alert_iocs(flt.apply(case.alerts)), len(everything)
    if name == "hosts":
        everything = host_iocs(case.flows)
        return host_iocs(flt.apply(case.flows)), len(everything)
    raise FieldError("table", f"table must be one of {', '.join(TABLES)}.")


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def page_json(
    frame: pd.DataFrame, unfiltered: int, offset: int, limit: int | None, flt: RangeFilter
) -> dict[str, Any]:
    """One JSON page of ``frame``: rows as objects, timestamps in ISO 8601 UTC."""
    stop = None if limit is None else offset + limit
    rows = _arrow_table(frame.iloc[offset:stop]).to_pylist()
    return {
        "total": int(len(frame)),
        "unfiltered": int(unfiltered),
        "offset": offset,
        "limit": limit,
        "columns": [str(c) for c in frame.columns],
        "rows": [{k: _json_value(v) for k, v in row.items()} for row in rows],
        "filter": flt.to_dict(),
        "filter_description": flt.describe(),
        "notes": flt.notes,
    }


#: rows per chunk of a CSV or Arrow download (a few MB each, whatever the table's size)
CHUNK_ROWS = 50_000


def encode_csv(frame: pd.DataFrame, chunk_rows: int | None = None) -> Iterator[bytes]:
    """CSV with a header row (UTF-8), in chunks of ``chunk_rows`` rows."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    yield frame.iloc[:0].to_csv(index=False).encode("utf-8")
    for start in range(0, len(frame), chunk_rows):
        part = frame.iloc[start : start + chunk_rows]
        yield part.to_csv(index=False, header=False).encode("utf-8")


def encode_arrow(frame: pd.DataFrame, chunk_rows: int | None = None) -> Iterator[bytes]:
    """The Arrow IPC stream format (``application/vnd.apache.arrow.stream``), one record
    batch of ``chunk_rows`` rows per chunk."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    tbl = _arrow_table(frame)
    sink = io.BytesIO()
    with ipc.new_stream(sink, tbl.schema) as writer:
        yield _take(sink)  # the schema message
        for batch in tbl.to_batches(max_chunksize=chunk_rows):
            writer.write_batch(batch)
            yield _take(sink)
    yield _take(sink)  # the end-of-stream marker


def _take(sink: io.BytesIO) -> bytes:
    data = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return data
