"""Indicators of compromise (IP addresses) from alert and flow frames.

Both functions take frames with the :mod:`.frames` schemas (possibly filtered with
:class:`~jupyter_sauce.networks.RangeFilter`) and return one row per distinct address
in canonical text (:func:`~jupyter_sauce.addresses.canonical`). Null addresses are
ignored; an address that does not parse raises
:class:`~jupyter_sauce.addresses.AddressError`. A row whose source and destination are
the same address counts once for it. Output columns use Arrow-backed dtypes; empty
input gives an empty frame with the same columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .addresses import canonical_series, classify, sort_order
from .frames import TS, empty_frame, frame_to_table, table_to_frame

TOP_SIGNATURES = 3
"""How many signature names :func:`alert_iocs` lists per address."""

ALERT_IOC_SCHEMA = pa.schema(
    [
        ("ip", pa.string()),
        ("ip_class", pa.string()),
        ("alerts", pa.int64()),
        ("as_src", pa.int64()),
        ("as_dst", pa.int64()),
        ("first_seen", TS),
        ("last_seen", TS),
        ("signatures", pa.int64()),
        ("signature_names", pa.string()),
    ]
)

HOST_IOC_SCHEMA = pa.schema(
    [
        ("ip", pa.string()),
        ("ip_class", pa.string()),
        ("flows", pa.int64()),
        ("packets", pa.int64()),
        ("bytes", pa.int64()),
        ("peers", pa.int64()),
        ("first_seen", TS),
        ("last_seen", TS),
    ]
)


def _both_ends(frame: pd.DataFrame, columns: dict[str, pd.Series]) -> pd.DataFrame:
    """Long frame: one row per (row, distinct non-null address among src/dest).

    Columns: ``ip``, ``is_src``, ``is_dst`` (0/1), ``peer`` (the other address, null
    for a self-row) and every series in ``columns`` (aligned with ``frame``'s rows).
    """
    src = canonical_series(frame["src_ip"]).reset_index(drop=True)
    dst = canonical_series(frame["dest_ip"]).reset_index(drop=True)
    same = (src == dst).fillna(False).to_numpy(dtype=bool)
    extra = {name: s.reset_index(drop=True) for name, s in columns.items()}
    as_src = pd.DataFrame(
        {
            "ip": src,
            "is_src": 1,
            "is_dst": same.astype(np.int64),
            "peer": dst.where(~same),
            **extra,
        }
    )
    other = dst.notna().to_numpy(dtype=bool) & ~same
    as_dst = pd.DataFrame({"ip": dst, "is_src": 0, "is_dst": 1, "peer": src, **extra})[other]
    long = pd.concat([as_src, as_dst], ignore_index=True)
    return long[long["ip"].notna().to_numpy(dtype=bool)]


def _finish(stats: pd.DataFrame, schema: pa.Schema, by: str) -> pd.DataFrame:
    """Add ``ip_class``, order by ``by`` descending then address, apply ``schema``."""
    stats = stats.reset_index()
    stats["ip_class"] = [classify(ip) for ip in stats["ip"]]
    order = np.lexsort((sort_order(stats["ip"]), -stats[by].to_numpy(dtype=np.int64)))
    stats = stats.iloc[order][list(schema.names)]
    return table_to_frame(frame_to_table(stats, schema))


def alert_iocs(alerts: pd.DataFrame) -> pd.DataFrame:
    """Every address in ``alerts`` (source or destination), one row each.

    Columns (:data:`ALERT_IOC_SCHEMA`): ``ip``; ``ip_class``; ``alerts`` (alerts
    involving it); ``as_src`` / ``as_dst`` (alerts with it as source / destination; a
    self-alert counts in both but once in ``alerts``); ``first_seen`` / ``last_seen``
    (UTC alert timestamps); ``signatures`` (distinct ``signature_id``);
    ``signature_names`` (up to :data:`TOP_SIGNATURES` signature names, most alerts
    first, ties by name, joined with ``"; "``). Sorted by ``alerts`` descending, then by
    address (numerically, IPv4 before IPv6).
    """
    if alerts.empty:
        return empty_frame(ALERT_IOC_SCHEMA)
    long = _both_ends(
        alerts,
        {
            "timestamp": alerts["timestamp"],
            "signature_id": alerts["signature_id"],
            "signature": alerts["signature"],
        },
    )
    if long.empty:
        return empty_frame(ALERT_IOC_SCHEMA)
    stats = long.groupby("ip", sort=False).agg(
        alerts=("is_src", "size"),
        as_src=("is_src", "sum"),
        as_dst=("is_dst", "sum"),
        first_seen=("timestamp", "min"),
        last_seen=("timestamp", "max"),
        signatures=("signature_id", "nunique"),
    )
    stats["signature_names"] = _top_names(long[["ip", "signature"]])
    return _finish(stats, ALERT_IOC_SCHEMA, "alerts")


def _top_names(pairs: pd.DataFrame) -> pd.Series:
    """Per ip: the TOP_SIGNATURES most frequent signature names joined with '; '."""
    pairs = pairs[pairs["signature"].notna().to_numpy(dtype=bool)]
    counts = pairs.groupby(["ip", "signature"], sort=False).size().reset_index(name="n")
    counts = counts.sort_values(["ip", "n", "signature"], ascending=[True, False, True])
    top = counts.groupby("ip", sort=False).head(TOP_SIGNATURES)
    return top.groupby("ip", sort=False)["signature"].agg("; ".join)


def host_iocs(flows: pd.DataFrame) -> pd.DataFrame:
    """Every host in ``flows`` (source or destination), one row each.

    Columns (:data:`HOST_IOC_SCHEMA`): ``ip``; ``ip_class``; ``flows`` (flows
    involving it); ``packets`` / ``bytes`` (both directions of those flows, i.e. sent
    plus received; missing counters count as 0); ``peers`` (distinct other addresses);
    ``first_seen`` (earliest flow ``start``) and ``last_seen`` (latest flow ``end``, or
    ``start`` where ``end`` is null). Sorted by ``bytes`` descending, then by address.
    """
    if flows.empty:
        return empty_frame(HOST_IOC_SCHEMA)

    def total(a: str, b: str) -> pd.Series:
        return flows[a].fillna(0).astype("int64") + flows[b].fillna(0).astype("int64")

    long = _both_ends(
        flows,
        {
            "packets": total("pkts_toserver", "pkts_toclient"),
            "bytes": total("bytes_toserver", "bytes_toclient"),
            "start": flows["start"],
            "end": flows["end"].fillna(flows["start"]),
        },
    )
    if long.empty:
        return empty_frame(HOST_IOC_SCHEMA)
    stats = long.groupby("ip", sort=False).agg(
        flows=("is_src", "size"),
        packets=("packets", "sum"),
        bytes=("bytes", "sum"),
        peers=("peer", "nunique"),
        first_seen=("start", "min"),
        last_seen=("end", "max"),
    )
    return _finish(stats, HOST_IOC_SCHEMA, "bytes")
