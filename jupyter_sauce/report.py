"""Summaries front ends show: alerts grouped by signature and endpoints, the IoC table, exports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .addresses import is_lookup_candidate
from .errors import InputError
from .userpaths import make_folder
from .virustotal.report import gui_link

VT_COLUMNS = (
    "malicious",
    "suspicious",
    "harmless",
    "undetected",
    "reputation",
    "as_owner",
    "asn",
    "country",
    "last_analysis_date",
    "source",
    "error",
)


def alert_groups(alerts: pd.DataFrame) -> pd.DataFrame:
    """Alerts grouped by signature, source and destination: count, first and last seen."""
    cols = ["signature_id", "signature", "src_ip", "dest_ip"]
    if alerts.empty:
        return pd.DataFrame(columns=[*cols, "count", "first_seen", "last_seen"])
    grouped = (
        alerts.groupby(cols, dropna=False, observed=True)
        .agg(
            count=("timestamp", "size"),
            first_seen=("timestamp", "min"),
            last_seen=("timestamp", "max"),
        )
        .reset_index()
        .sort_values(["count", "signature_id"], ascending=[False, True], kind="stable")
    )
    return grouped.reset_index(drop=True)


def ioc_table(iocs: pd.DataFrame, intel: pd.DataFrame | None) -> pd.DataFrame:
    """IoCs with VirusTotal columns (empty when not enriched) and the VirusTotal link."""
    table = iocs.copy()
    if intel is not None and len(intel):
        vt = intel[["ip", *[c for c in VT_COLUMNS if c in intel.columns]]]
        table = table.merge(vt, on="ip", how="left")
    # private and other non-global addresses get no link: their VirusTotal page is a lookup too
    table["link"] = [gui_link(ip) if is_lookup_candidate(ip) else None for ip in table["ip"]]
    return table


def write_outputs(
    out_dir: Path, alerts: pd.DataFrame, flows: pd.DataFrame, iocs: pd.DataFrame
) -> list[Path]:
    """Write alerts, flows and IoCs as CSV and Parquet into ``out_dir``."""
    make_folder(out_dir)
    written = []
    for name, frame in (("alerts", alerts), ("flows", flows), ("iocs", iocs)):
        for suffix in ("csv", "parquet"):
            path = out_dir / f"{name}.{suffix}"
            try:
                frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(
                    path, index=False
                )
            except OSError as exc:
                raise InputError(
                    f"{str(path)!r} cannot be written: {exc.strerror or exc}."
                ) from exc
            written.append(path)
    return written
