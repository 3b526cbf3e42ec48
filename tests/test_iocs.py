"""iocs: alert_iocs and host_iocs on small hand-made frames (exact values)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jupyter_sauce import frames
from jupyter_sauce.addresses import AddressError
from jupyter_sauce.iocs import ALERT_IOC_SCHEMA, HOST_IOC_SCHEMA, alert_iocs, host_iocs
from jupyter_sauce.networks import RangeFilter

T0 = datetime(2024, 4, 21, 12, 0, tzinfo=timezone.utc)


def t(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: int) -> pd.Timestamp:
    return pd.Timestamp(t(seconds))


def alert_frame(rows: list[tuple]) -> pd.DataFrame:
    """(second, signature_id, signature, src_ip, dest_ip) tuples -> ALERT_SCHEMA frame."""
    records = [
        {"timestamp": t(s), "signature_id": sid, "signature": sig, "src_ip": a, "dest_ip": b}
        for s, sid, sig, a, b in rows
    ]
    return frames.table_to_frame(pa.Table.from_pylist(records, schema=frames.ALERT_SCHEMA))


def flow_frame(rows: list[tuple]) -> pd.DataFrame:
    """(src, dst, pkts_to_server, pkts_to_client, bytes_ts, bytes_tc, start, end) tuples."""
    records = [
        {
            "flow_id": i,
            "src_ip": a,
            "dest_ip": b,
            "pkts_toserver": ps,
            "pkts_toclient": pc,
            "bytes_toserver": bs,
            "bytes_toclient": bc,
            "start": None if start is None else t(start),
            "end": None if end is None else t(end),
        }
        for i, (a, b, ps, pc, bs, bc, start, end) in enumerate(rows)
    ]
    return frames.table_to_frame(pa.Table.from_pylist(records, schema=frames.FLOW_SCHEMA))


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


def assert_schema(frame: pd.DataFrame, schema: pa.Schema) -> None:
    assert list(frame.columns) == schema.names
    assert [d.pyarrow_dtype for d in frame.dtypes] == list(schema.types)
    assert list(frame.index) == list(range(len(frame)))


ALERTS = [
    (1, 2001, "ET SCAN probe", "194.61.24.102", "10.42.85.10"),
    (5, 2001, "ET SCAN probe", "194.61.24.102", "10.42.85.10"),
    (3, 2002, "ET EXPLOIT RDP", "194.61.24.102", "10.42.85.115"),
    (9, 2003, "ET POLICY DNS", "10.42.85.10", "8.8.8.8"),
    (7, 2004, "ET INFO self", "10.42.85.10", "10.42.85.10"),
    (2, 2005, "SURICATA decoder", None, None),
    (4, 2006, "ET V6", "2001:DB8::1", "::ffff:8.8.8.8"),
]


def test_alert_iocs_exact() -> None:
    out = alert_iocs(alert_frame(ALERTS))
    assert_schema(out, ALERT_IOC_SCHEMA)
    assert records(out) == [
        {
            "ip": "10.42.85.10",
            "ip_class": "private",
            "alerts": 4,
            "as_src": 2,
            "as_dst": 3,
            "first_seen": ts(1),
            "last_seen": ts(9),
            "signatures": 3,
            "signature_names": "ET SCAN probe; ET INFO self; ET POLICY DNS",
        },
        {
            "ip": "194.61.24.102",
            "ip_class": "global",
            "alerts": 3,
            "as_src": 3,
            "as_dst": 0,
            "first_seen": ts(1),
            "last_seen": ts(5),
            "signatures": 2,
            "signature_names": "ET SCAN probe; ET EXPLOIT RDP",
        },
        {
            "ip": "8.8.8.8",
            "ip_class": "global",
            "alerts": 1,
            "as_src": 0,
            "as_dst": 1,
            "first_seen": ts(9),
            "last_seen": ts(9),
            "signatures": 1,
            "signature_names": "ET POLICY DNS",
        },
        {
            "ip": "10.42.85.115",
            "ip_class": "private",
            "alerts": 1,
            "as_src": 0,
            "as_dst": 1,
            "first_seen": ts(3),
            "last_seen": ts(3),
            "signatures": 1,
            "signature_names": "ET EXPLOIT RDP",
        },
        {
            "ip": "::ffff:8.8.8.8",
            "ip_class": "global",
            "alerts": 1,
            "as_src": 0,
            "as_dst": 1,
            "first_seen": ts(4),
            "last_seen": ts(4),
            "signatures": 1,
            "signature_names": "ET V6",
        },
        {
            "ip": "2001:db8::1",
            "ip_class": "documentation",
            "alerts": 1,
            "as_src": 1,
            "as_dst": 0,
            "first_seen": ts(4),
            "last_seen": ts(4),
            "signatures": 1,
            "signature_names": "ET V6",
        },
    ]


def test_alert_iocs_top_signature_names_are_capped_and_ordered() -> None:
    rows = [
        (i, sid, name, "10.0.0.1", "10.0.0.2")
        for i, (sid, name) in enumerate(
            [(1, "D"), (2, "C"), (2, "C"), (3, "B"), (4, "A"), (4, "A"), (5, "E"), (6, None)]
        )
    ]
    out = alert_iocs(alert_frame(rows))
    assert out["signature_names"].tolist() == ["A; C; B", "A; C; B"]
    assert out["signatures"].tolist() == [6, 6]
    assert out["ip"].tolist() == ["10.0.0.1", "10.0.0.2"]  # tie on alerts: by address


def test_alert_iocs_sorts_addresses_numerically() -> None:
    rows = [(0, 1, "x", "10.0.0.10", "::1"), (1, 1, "x", "10.0.0.9", "9.0.0.1")]
    out = alert_iocs(alert_frame(rows))
    assert out["ip"].tolist() == ["9.0.0.1", "10.0.0.9", "10.0.0.10", "::1"]


def test_alert_iocs_canonicalises_addresses() -> None:
    rows = [
        (0, 1, "x", "2001:0DB8:0:0::1", "10.0.0.1"),
        (1, 1, "x", "2001:db8::1", "10.0.0.1"),
    ]
    out = alert_iocs(alert_frame(rows))
    assert out[["ip", "alerts"]].to_dict("records") == [
        {"ip": "10.0.0.1", "alerts": 2},
        {"ip": "2001:db8::1", "alerts": 2},
    ]


@pytest.mark.parametrize(
    "frame",
    [
        frames.empty_frame(frames.ALERT_SCHEMA),
        alert_frame([(0, 1, "decoder", None, None), (1, 2, "decoder", None, None)]),
    ],
)
def test_alert_iocs_empty(frame: pd.DataFrame) -> None:
    out = alert_iocs(frame)
    assert out.empty
    assert_schema(out, ALERT_IOC_SCHEMA)


def test_alert_iocs_after_filter() -> None:
    frame = alert_frame(ALERTS)
    view = RangeFilter.from_strings(exclude_src="10.42.0.0/16").apply(frame)
    out = alert_iocs(view)
    assert out[["ip", "alerts"]].to_dict("records") == [
        {"ip": "194.61.24.102", "alerts": 3},
        {"ip": "10.42.85.10", "alerts": 2},
        {"ip": "10.42.85.115", "alerts": 1},
        {"ip": "::ffff:8.8.8.8", "alerts": 1},
        {"ip": "2001:db8::1", "alerts": 1},
    ]


def test_alert_iocs_invalid_address() -> None:
    with pytest.raises(AddressError, match="'not-an-ip'"):
        alert_iocs(alert_frame([(0, 1, "x", "not-an-ip", "10.0.0.1")]))


FLOWS = [
    ("10.42.85.10", "8.8.8.8", 3, 2, 300, 200, 1, 4),
    ("10.42.85.10", "194.61.24.102", 10, 10, 1000, 5000, 2, 30),
    ("194.61.24.102", "10.42.85.115", 1, None, 60, None, 5, None),
    ("10.42.85.10", "8.8.8.8", 1, 1, 70, 90, 40, 41),
    ("fe80::1", "FE80::0002", 2, 2, 100, 100, 3, 3),
    ("10.42.85.115", "10.42.85.115", 4, 0, 40, 0, 0, 1),
    (None, "10.9.9.9", 1, 1, 1, 1, 50, 51),
]


def test_host_iocs_exact() -> None:
    out = host_iocs(flow_frame(FLOWS))
    assert_schema(out, HOST_IOC_SCHEMA)
    assert records(out) == [
        {"ip": "10.42.85.10", "ip_class": "private", "flows": 3, "packets": 27,
         "bytes": 6660, "peers": 2, "first_seen": ts(1), "last_seen": ts(41)},
        {"ip": "194.61.24.102", "ip_class": "global", "flows": 2, "packets": 21,
         "bytes": 6060, "peers": 2, "first_seen": ts(2), "last_seen": ts(30)},
        {"ip": "8.8.8.8", "ip_class": "global", "flows": 2, "packets": 7,
         "bytes": 660, "peers": 1, "first_seen": ts(1), "last_seen": ts(41)},
        {"ip": "fe80::1", "ip_class": "link-local", "flows": 1, "packets": 4,
         "bytes": 200, "peers": 1, "first_seen": ts(3), "last_seen": ts(3)},
        {"ip": "fe80::2", "ip_class": "link-local", "flows": 1, "packets": 4,
         "bytes": 200, "peers": 1, "first_seen": ts(3), "last_seen": ts(3)},
        {"ip": "10.42.85.115", "ip_class": "private", "flows": 2, "packets": 5,
         "bytes": 100, "peers": 1, "first_seen": ts(0), "last_seen": ts(5)},
        {"ip": "10.9.9.9", "ip_class": "private", "flows": 1, "packets": 2,
         "bytes": 2, "peers": 0, "first_seen": ts(50), "last_seen": ts(51)},
    ]  # fmt: skip


def test_host_iocs_empty() -> None:
    for frame in (
        frames.empty_frame(frames.FLOW_SCHEMA),
        flow_frame([(None, None, 1, 1, 1, 1, 0, 1)]),
    ):
        out = host_iocs(frame)
        assert out.empty
        assert_schema(out, HOST_IOC_SCHEMA)


def test_iocs_on_many_rows() -> None:
    n = 200_000
    rng = np.random.default_rng(3)
    pool = np.array([f"10.0.{i}.{j}" for i in range(10) for j in range(1, 101)], dtype=object)
    src = pool[rng.integers(0, len(pool), n)]
    dst = pool[rng.integers(0, len(pool), n)]
    sid = rng.integers(1, 20, n)
    table = pa.table(
        {
            "timestamp": pa.array(np.arange(n) * 1_000_000, pa.timestamp("us", tz="UTC")),
            "signature": pa.array([f"sig {s}" for s in sid]),
            "signature_id": pa.array(sid),
            "src_ip": pa.array(src, pa.string()),
            "dest_ip": pa.array(dst, pa.string()),
        }
    )
    full = pa.table(
        {
            name: table[name]
            if name in table.column_names
            else pa.nulls(n, frames.ALERT_SCHEMA.field(name).type)
            for name in frames.ALERT_COLUMNS
        },
        schema=frames.ALERT_SCHEMA,
    )
    out = alert_iocs(frames.table_to_frame(full))
    counts = pd.concat([pd.Series(src), pd.Series(dst[src != dst])]).value_counts()
    got = dict(zip(out["ip"], out["alerts"], strict=True))
    assert got == counts.to_dict()
    assert out["alerts"].is_monotonic_decreasing
    assert out["as_src"].sum() == n


def test_ipv4_mapped_address_has_one_text_form_everywhere() -> None:
    """Bug: eve/fast.log wrote ``::ffff:808:808`` while the IoC code wrote ``::ffff:8.8.8.8``,
    so an enriched IoC lost its VirusTotal columns. Now every layer agrees."""
    from jupyter_sauce import eve, fastlog
    from jupyter_sauce.addresses import canonical
    from jupyter_sauce.report import ioc_table
    from jupyter_sauce.virustotal import canonical_ip
    from jupyter_sauce.virustotal.report import gui_link

    expanded = "0000:0000:0000:0000:0000:ffff:0808:0808"
    line = (
        '{"timestamp":"2024-12-17T19:19:38.518119+0000","flow_id":1,"event_type":"alert",'
        f'"src_ip":"fd00:0000:0000:0000:0000:0000:0000:0005","src_port":5353,"dest_ip":"{expanded}",'
        '"dest_port":53,"proto":"UDP","alert":{"action":"allowed","gid":1,"signature_id":7,'
        '"rev":1,"signature":"mapped","category":"","severity":3}}'
    )
    fast = (
        "12/17/2024-19:19:38.518119  [**] [1:7:1] mapped [**] [Classification: (null)] "
        f"[Priority: 3] {{UDP}} fd00:0000:0000:0000:0000:0000:0000:0005:5353 -> {expanded}:53"
    )
    from_eve = eve.parse_text(line).alerts
    from_fast = fastlog.parse_text(fast).alerts
    want = "::ffff:8.8.8.8"
    assert from_eve["dest_ip"].tolist() == from_fast["dest_ip"].tolist() == [want]
    assert canonical(expanded) == canonical_ip(expanded) == eve.canonical_ip(expanded) == want
    iocs = alert_iocs(from_eve)
    assert want in iocs["ip"].tolist()
    intel = pd.DataFrame({"ip": [canonical_ip("::ffff:808:808")], "malicious": [3]})
    table = ioc_table(iocs, intel).set_index("ip")
    assert table.loc[want, "malicious"] == 3
    assert gui_link(expanded).endswith("/" + want)
