"""Summaries front ends show: alerts grouped by signature and endpoints, the IoC table, exports."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .addresses import is_lookup_candidate
from .atomicfile import atomic_write_json
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


#: names the capture whose results a folder of written tables holds
OWNER_FILE = "capture.json"


def folder_free_for(folder: Path, sha256: str) -> bool:
    """Whether ``folder`` may hold the results of the capture ``sha256``: it is new or
    empty, or holds that capture's results already (its :data:`OWNER_FILE` says so)."""
    try:
        if not folder.exists() or not any(folder.iterdir()):
            return True
        owner = json.loads((folder / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(owner, dict) and owner.get("sha256") == sha256


def write_owner(folder: Path, owner: dict) -> Path:
    """Write ``owner`` (capture, sha256, key) as the folder's :data:`OWNER_FILE`."""
    path = folder / OWNER_FILE
    try:
        atomic_write_json(path, owner)
    except OSError as exc:
        raise InputError(f"{str(path)!r} cannot be written: {exc.strerror or exc}.") from exc
    return path


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
