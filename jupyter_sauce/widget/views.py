"""What the widget shows, computed from frames: timeline bins, IoC rows, sentences.

Pure functions (no widgets, no threads) so they are unit-tested directly.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..addresses import classify
from ..report import VT_COLUMNS, ioc_table

TIMELINE_BINS = 60

IOC_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "alerts": [
        ("ip", "IP"), ("ip_class", "Class"), ("alerts", "Alerts"), ("as_src", "As source"),
        ("as_dst", "As destination"), ("first_seen", "First seen"), ("last_seen", "Last seen"),
    ],
    "hosts": [
        ("ip", "IP"), ("ip_class", "Class"), ("flows", "Flows"), ("packets", "Packets"),
        ("bytes", "Bytes"), ("peers", "Peers"), ("first_seen", "First seen"),
        ("last_seen", "Last seen"),
    ],
}  # fmt: skip
VT_DISPLAY = [
    ("malicious", "VT malicious"), ("suspicious", "VT suspicious"), ("reputation", "VT reputation"),
    ("as_owner", "AS owner"), ("country", "Country"), ("source", "VT source"), ("error", "VT note"),
]  # fmt: skip


def _epoch_seconds(series: pd.Series) -> np.ndarray:
    """UTC timestamps as float seconds since the epoch (nulls dropped)."""
    values = series.dropna()
    if values.empty:
        return np.empty(0)
    micros = pa.array(values, from_pandas=True).cast(pa.timestamp("us", tz="UTC"))
    return micros.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64) / 1e6


def timeline(
    alerts: pd.DataFrame,
    shown: pd.DataFrame,
    first_ts: float | None,
    last_ts: float | None,
    bins: int = TIMELINE_BINS,
) -> dict[str, Any]:
    """Alert counts per time bin over the capture's own time range (not relative to now).

    ``all`` counts every alert, ``shown`` the alerts left by the filters. The range is
    the capture's first to last packet, widened to cover every alert timestamp.
    """
    every = _epoch_seconds(alerts["timestamp"]) if len(alerts) else np.empty(0)
    kept = _epoch_seconds(shown["timestamp"]) if len(shown) else np.empty(0)
    lo = [v for v in (first_ts, every.min() if every.size else None) if v is not None]
    hi = [v for v in (last_ts, every.max() if every.size else None) if v is not None]
    if not lo or not hi:
        return {"start": None, "end": None, "t0": None, "bin_seconds": 0, "all": [], "shown": []}
    start, end = float(min(lo)), float(max(hi))
    if end <= start:
        end = start + 1.0
    edges = np.linspace(start, end, bins + 1)
    counts_all, _ = np.histogram(every, bins=edges)
    counts_shown, _ = np.histogram(kept, bins=edges)
    return {
        "start": _iso(start),
        "end": _iso(end),
        "t0": start,
        "bin_seconds": round((end - start) / bins, 6),
        "all": counts_all.astype(int).tolist(),
        "shown": counts_shown.astype(int).tolist(),
    }


def _iso(seconds: float) -> str:
    try:
        when = datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):  # a damaged capture's times: past 9999
        return ""
    return when.isoformat(timespec="milliseconds")


def _json_value(value: Any) -> Any:
    """A JSON-ready cell: timestamps as ISO text, missing values as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def ioc_frame(iocs: pd.DataFrame, intel: pd.DataFrame | None) -> pd.DataFrame:
    """The IoC table as shown: IoC columns, VirusTotal columns, VT page link (global IPs)."""
    table = ioc_table(iocs, intel)
    for column in VT_COLUMNS:
        if column not in table:
            table[column] = None
    is_global = [cls == "global" for cls in table["ip_class"]] if len(table) else []
    table["link"] = table["link"].where(pd.Series(is_global, index=table.index, dtype=bool))
    return table


def ioc_rows(table: pd.DataFrame, source: str) -> tuple[list[list[str]], list[dict[str, Any]]]:
    """Column headers ``[key, label]`` and JSON rows of the IoC table for the browser."""
    columns = [*IOC_COLUMNS[source], *VT_DISPLAY]
    keys = [key for key, _ in columns if key in table.columns] + ["link"]
    rows = [
        {key: _json_value(value) for key, value in zip(keys, values, strict=True)}
        for values in table[keys].itertuples(index=False, name=None)
    ]
    return [[k, label] for k, label in columns if k in table.columns], rows


def global_ips(table: pd.DataFrame) -> list[str]:
    """The addresses of the IoC table worth a VirusTotal lookup (class ``global``)."""
    if table.empty:
        return []
    return [ip for ip in table["ip"] if classify(ip) == "global"]


def stored_notice(manifest: dict) -> str:
    """'Analysed on … with …' for a stored result."""
    when = manifest.get("analysed_at", "")
    try:
        stamp = datetime.fromisoformat(when).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        stamp = when or "an earlier session"
    return (
        f"Already analysed on {stamp} with {ruleset_label(manifest.get('ruleset', {}))} "
        f"(HOME_NET {', '.join(manifest.get('options', {}).get('home_net', []))}); "
        "Run opens the stored result, Re-run runs Suricata again."
    )


def ruleset_label(label: dict) -> str:
    """A ruleset label in words, e.g. ``et-open-2024-04-21 (19,810 rules, 2024-04-19)``."""
    if not label:
        return "an unknown ruleset"
    location = str(label.get("location") or label.get("source") or "ruleset")
    name = location.rstrip("/").rsplit("/", 1)[-1] or location
    facts = []
    if label.get("rules") is not None:
        facts.append(f"{int(label['rules']):,} rules")
    if label.get("date"):
        facts.append(str(label["date"]))
    return f"{name} ({', '.join(facts)})" if facts else name


def case_status(name: str, manifest: dict, total: int, shown: int) -> str:
    """One line: what was analysed (``name``: the capture as the user chose it) and how
    many alerts are shown."""
    counts = manifest.get("counts", {})
    flows = counts.get("flows", 0)
    if total == 0:
        return f"{name}: no alerts ({flows:,} flows)."
    if shown == total:
        return f"{name}: {total:,} alerts, {flows:,} flows."
    return f"{name}: {shown:,} of {total:,} alerts after the range filters, {flows:,} flows."
