"""What an enrichment returns: the per-IP frame, progress events and the result object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from ..frames import TS, table_to_frame

INTEL_SCHEMA = pa.schema(
    [
        ("ip", pa.string()),
        ("malicious", pa.int64()),
        ("suspicious", pa.int64()),
        ("harmless", pa.int64()),
        ("undetected", pa.int64()),
        ("reputation", pa.int64()),
        ("as_owner", pa.string()),
        ("asn", pa.int64()),
        ("country", pa.string()),
        ("last_analysis_date", TS),
        ("source", pa.string()),
        ("error", pa.string()),
        ("link", pa.string()),
    ]
)
INTEL_COLUMNS = tuple(INTEL_SCHEMA.names)

# values of the "source" column (their meaning: the docstring of .enrich)
SOURCES = ("cache", "offline", "live", "none", "error", "skipped")

NOT_FOUND_ERROR = "not found in VirusTotal"


def empty_row(ip: str, source: str, error: str | None = None, link: str | None = None) -> dict:
    """A frame row with no report fields."""
    row: dict[str, Any] = dict.fromkeys(INTEL_COLUMNS)
    row.update(ip=ip, source=source, error=error, link=link)
    return row


def rows_to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The enrichment frame (Arrow-backed dtypes, :data:`INTEL_COLUMNS` in order)."""
    return table_to_frame(pa.Table.from_pylist(rows, schema=INTEL_SCHEMA))


@dataclass(frozen=True)
class EnrichProgress:
    """One progress event: ``done`` of ``total`` addresses resolved.

    ``eta_seconds`` is the time the rate limit needs for the remaining live lookups
    (0.0 when nothing more has to wait); ``ip``/``source`` describe the last address.
    """

    done: int
    total: int
    eta_seconds: float
    ip: str | None = None
    source: str | None = None
    message: str = ""


@dataclass
class EnrichResult:
    """The outcome of :meth:`Enricher.enrich`.

    ``frame`` has one row per distinct input address in input order. ``notices`` are
    sentences for people (e.g. "No VirusTotal API key: offline reports only.").
    """

    frame: pd.DataFrame
    notices: list[str] = field(default_factory=list)
    mode: str = "offline"
    quota_used_today: int = 0
    quota_limit: int = 0
    quota_exhausted: bool = False
    cancelled: bool = False
    requests_made: int = 0
    not_found: list[str] = field(default_factory=list)

    @property
    def quota(self) -> dict[str, Any]:
        """Quota state as a dict: used today, daily limit, exhausted."""
        return {
            "used_today": self.quota_used_today,
            "limit": self.quota_limit,
            "exhausted": self.quota_exhausted,
        }
