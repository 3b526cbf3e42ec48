"""Column schemas of the alert and flow frames (pandas with Arrow-backed dtypes).

Both log parsers (:mod:`.eve`, :mod:`.fastlog`) produce frames with exactly these
columns in this order, so front ends and filters never guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

ALERT_SCHEMA = pa.schema(
    [
        ("timestamp", TS),
        ("signature", pa.string()),
        ("signature_id", pa.int64()),
        ("rev", pa.int64()),
        ("gid", pa.int64()),
        ("category", pa.string()),
        ("severity", pa.int64()),
        ("action", pa.string()),
        ("proto", pa.string()),
        ("app_proto", pa.string()),
        ("src_ip", pa.string()),
        ("src_port", pa.int64()),
        ("dest_ip", pa.string()),
        ("dest_port", pa.int64()),
        ("flow_id", pa.int64()),
        ("http_hostname", pa.string()),
        ("http_url", pa.string()),
        ("http_user_agent", pa.string()),
        ("tls_sni", pa.string()),
        ("dns_query", pa.string()),
    ]
)

FLOW_SCHEMA = pa.schema(
    [
        ("flow_id", pa.int64()),
        ("src_ip", pa.string()),
        ("src_port", pa.int64()),
        ("dest_ip", pa.string()),
        ("dest_port", pa.int64()),
        ("proto", pa.string()),
        ("app_proto", pa.string()),
        ("pkts_toserver", pa.int64()),
        ("pkts_toclient", pa.int64()),
        ("bytes_toserver", pa.int64()),
        ("bytes_toclient", pa.int64()),
        ("start", TS),
        ("end", TS),
        ("state", pa.string()),
        ("alerted", pa.bool_()),
    ]
)

ALERT_COLUMNS = tuple(ALERT_SCHEMA.names)
FLOW_COLUMNS = tuple(FLOW_SCHEMA.names)


@dataclass(frozen=True)
class ParseProblem:
    """One line a parser could not use: 1-based line number, why, and the start of the line."""

    line_no: int
    reason: str
    text: str = ""


@dataclass
class ParseReport:
    """What a parser read: line counts and every problem line (never silently dropped)."""

    lines: int = 0
    records: int = 0
    skipped_blank: int = 0
    problems: list[ParseProblem] = field(default_factory=list)

    @property
    def bad_lines(self) -> int:
        return len(self.problems)


def empty_frame(schema: pa.Schema) -> pd.DataFrame:
    """An empty frame with the schema's columns and Arrow dtypes."""
    return table_to_frame(schema.empty_table())


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """Convert an Arrow table to pandas keeping Arrow-backed dtypes."""
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def frame_to_table(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Convert a frame back to Arrow with the given schema (for Parquet / IPC)."""
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
