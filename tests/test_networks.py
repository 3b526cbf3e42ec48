"""networks: parse_ranges, Ranges membership, RangeFilter over alert and flow frames."""

from __future__ import annotations

import ipaddress
import json
import time
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from jupyter_sauce import frames
from jupyter_sauce.errors import InputError, RangeError
from jupyter_sauce.networks import RangeFilter, Ranges, parse_ranges

T0 = datetime(2024, 4, 21, 12, 0, tzinfo=timezone.utc)


def alerts(pairs: list[tuple[str | None, str | None]]) -> pd.DataFrame:
    """An alert frame (ALERT_SCHEMA) with one alert per (src_ip, dest_ip); sid = row no."""
    rows = [
        {"timestamp": T0, "signature": f"sig {i}", "signature_id": i, "src_ip": s, "dest_ip": d}
        for i, (s, d) in enumerate(pairs)
    ]
    return frames.table_to_frame(pa.Table.from_pylist(rows, schema=frames.ALERT_SCHEMA))


def sids(frame: pd.DataFrame) -> list[int]:
    return frame["signature_id"].tolist()


# ------------------------------------------------------------------ parse_ranges


def test_parse_mixed_separators() -> None:
    r = parse_ranges("10.42.0.0/16, 192.168.0.0/24 fe80::/10 10.1.2.3")
    assert [str(n) for n in r] == [
        "10.1.2.3/32",
        "10.42.0.0/16",
        "192.168.0.0/24",
        "fe80::/10",
    ]
    assert len(r) == 4
    assert bool(r)
    assert r.notes == []
    assert str(r) == "10.1.2.3, 10.42.0.0/16, 192.168.0.0/24, fe80::/10"


def test_parse_empty_pieces_and_whitespace() -> None:
    r = parse_ranges(" ,10.0.0.0/8,, ,\n\t192.168.1.1 ,")
    assert str(r) == "10.0.0.0/8, 192.168.1.1"
    for text in ("", "   ", ",", " , ,\n"):
        empty = parse_ranges(text)
        assert len(empty) == 0
        assert not empty
        assert str(empty) == ""
        assert empty == Ranges()


def test_single_addresses_become_host_networks() -> None:
    r = parse_ranges("10.1.2.3 2001:DB8::1")
    assert r.networks == (
        ipaddress.ip_network("10.1.2.3/32"),
        ipaddress.ip_network("2001:db8::1/128"),
    )
    assert str(r) == "10.1.2.3, 2001:db8::1"


def test_host_bits_are_normalised_with_a_note() -> None:
    r = parse_ranges("10.42.1.1/16 2001:db8::1/32 10.0.0.0/8")
    assert str(r) == "10.0.0.0/8, 10.42.0.0/16, 2001:db8::/32"
    assert r.notes == [
        "10.42.1.1/16 has host bits set; using 10.42.0.0/16.",
        "2001:db8::1/32 has host bits set; using 2001:db8::/32.",
    ]


def test_canonical_form_round_trips() -> None:
    text = "fe80::/10 10.42.1.1/16, 10.42.0.0/16 192.168.0.7 ::FFFF:10.0.0.0/104 10.0.0.0/8"
    r = parse_ranges(text)
    assert str(r) == "10.0.0.0/8, 10.42.0.0/16, 192.168.0.7, ::ffff:a00:0/104, fe80::/10"
    again = parse_ranges(str(r))
    assert again == r
    assert str(again) == str(r)
    assert again.notes == []
    assert repr(r) == f"Ranges({str(r)!r})"


@pytest.mark.parametrize(
    "bad",
    [
        "10.0.0.0/33",
        "abc",
        "1.2.3",
        "10.0.0.0/8/8",
        "::g",
        "::/129",
        "256.0.0.0/8",
        "10.0.0.0/",
        "/8",
        "10.0.0.0/255.0.0.0",
        "10.0.0.0/-1",
        "10.0.0.0/x",
        "fe80::1%eth0",
        "10.0.0.0;",
        "10.0.0.1-10.0.0.9",
    ],
)
def test_bad_tokens_raise_range_error_naming_them(bad: str) -> None:
    with pytest.raises(RangeError) as info:
        parse_ranges(f"10.0.0.0/8, {bad} 192.168.0.0/16")
    assert info.value.message == f"{bad!r} is not a valid address or CIDR range."
    assert isinstance(info.value, InputError)
    assert info.value.http_status == 400


def test_non_string_input() -> None:
    with pytest.raises(RangeError):
        parse_ranges(None)  # type: ignore[arg-type]


# ------------------------------------------------------------------ membership


def test_contains() -> None:
    r = parse_ranges("10.42.0.0/16 192.168.0.1 2001:db8::/32")
    assert "10.42.255.255" in r
    assert "10.43.0.0" not in r
    assert "192.168.0.1" in r
    assert "192.168.0.2" not in r
    assert "2001:db8:ffff::1" in r
    assert "2001:db9::1" not in r
    assert ipaddress.ip_address("10.42.0.1") in r
    assert ipaddress.ip_network("10.42.7.0/24") in r
    assert ipaddress.ip_network("10.0.0.0/8") not in r
    assert "not an address" not in r
    assert None not in r
    assert "10.42.0.1" not in Ranges()


def test_ipv4_mapped_membership() -> None:
    v4 = parse_ranges("10.0.0.0/8")
    assert "::ffff:10.1.2.3" in v4
    assert "::ffff:11.1.2.3" not in v4
    mapped = parse_ranges("::ffff:0:0/96")
    assert "::ffff:8.8.8.8" in mapped
    assert "8.8.8.8" not in mapped  # plain IPv4 never matches IPv6 ranges
    assert "::ffff:8.8.8.8" in parse_ranges("::/0")
    assert "8.8.8.8" not in parse_ranges("::/0")


def test_contains_many_matches_contains() -> None:
    r = parse_ranges("10.0.0.0/8 172.16.5.4 2001:db8::/32 0.0.0.0/32")
    values = [
        "10.0.0.0",
        "10.255.255.255",
        "11.0.0.0",
        "9.255.255.255",
        "172.16.5.4",
        "172.16.5.5",
        "0.0.0.0",
        "2001:db8::5",
        "::ffff:10.9.9.9",
        None,
        "garbage",
        "010.1.1.1",
        "10.1.1.1 ",
    ]
    got = r.contains_many(values)
    assert got.tolist() == [v in r for v in values]
    assert got.tolist() == [
        True, True, False, False, True, False, True, True, True, False, False, False, True
    ]  # fmt: skip
    assert Ranges().contains_many(values).tolist() == [False] * len(values)
    assert r.contains_many([]).tolist() == []


def test_adjacent_and_nested_ranges() -> None:
    r = parse_ranges("10.0.0.0/25 10.0.0.128/25 10.0.0.0/8 10.1.0.0/16")
    got = r.contains_many(["10.0.0.127", "10.0.0.128", "10.255.0.1", "11.0.0.0"])
    assert got.tolist() == [True, True, True, False]


# ------------------------------------------------------------------ RangeFilter

PAIRS = [
    ("10.42.0.5", "8.8.8.8"),  # 0
    ("8.8.8.8", "10.42.0.5"),  # 1
    ("192.168.1.9", "10.42.7.7"),  # 2
    ("2001:db8::1", "fe80::1"),  # 3
    (None, None),  # 4 decoder event
    ("10.1.1.1", None),  # 5
    ("::ffff:10.42.0.9", "1.1.1.1"),  # 6
]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [0, 1, 2, 3, 4, 5, 6]),
        ({"include_src": "10.42.0.0/16"}, [0, 4, 6]),
        ({"include_dst": "10.42.0.0/16"}, [1, 2, 4, 5]),
        ({"exclude_src": "10.42.0.0/16"}, [1, 2, 3, 4, 5]),
        ({"exclude_dst": "10.42.0.0/16"}, [0, 3, 4, 5, 6]),
        ({"include_src": "10.0.0.0/8", "exclude_src": "10.42.0.0/16"}, [4, 5]),
        ({"include_src": "10.0.0.0/8", "exclude_dst": "8.8.8.8"}, [4, 5, 6]),
        ({"include_src": "fe80::/10 2001:db8::/32"}, [3, 4]),
        ({"include_dst": "fe80::/10"}, [3, 4, 5]),
        ({"exclude_src": "::/0"}, [0, 1, 2, 4, 5]),
        ({"include_src": "0.0.0.0/0"}, [0, 1, 2, 4, 5, 6]),
        ({"drop_unaddressed": True}, [0, 1, 2, 3, 6]),
        ({"include_src": "10.0.0.0/8", "drop_unaddressed": True}, [0, 6]),
        ({"exclude_dst": "0.0.0.0/0 ::/0"}, [4, 5]),
        ({"include_src": "1.1.1.1", "include_dst": "1.1.1.1"}, [4]),
    ],
)
def test_apply(kwargs: dict, expected: list[int]) -> None:
    frame = alerts(PAIRS)
    out = RangeFilter.from_strings(**kwargs).apply(frame)
    assert sids(out) == expected
    assert list(out.index) == expected  # original index kept
    assert list(out.columns) == list(frames.ALERT_COLUMNS)
    assert out.dtypes.equals(frame.dtypes)
    assert sids(frame) == list(range(len(PAIRS)))  # input untouched


def test_apply_on_flows_and_empty_frames() -> None:
    rows = [
        {"flow_id": 1, "src_ip": "10.0.0.1", "dest_ip": "8.8.8.8"},
        {"flow_id": 2, "src_ip": "192.168.0.1", "dest_ip": "8.8.4.4"},
    ]
    flows = frames.table_to_frame(pa.Table.from_pylist(rows, schema=frames.FLOW_SCHEMA))
    flt = RangeFilter(include_src=parse_ranges("10.0.0.0/8"))
    assert flt.apply(flows)["flow_id"].tolist() == [1]
    empty = flt.apply(frames.empty_frame(frames.ALERT_SCHEMA))
    assert empty.empty
    assert list(empty.columns) == list(frames.ALERT_COLUMNS)


def test_apply_accepts_object_dtype_columns() -> None:
    frame = pd.DataFrame({"src_ip": ["10.0.0.1", None, "8.8.8.8"], "dest_ip": [None] * 3})
    out = RangeFilter.from_strings(exclude_src="10.0.0.0/8").apply(frame)
    assert out.index.tolist() == [1, 2]


def test_apply_requires_address_columns() -> None:
    with pytest.raises(ValueError, match="dest_ip"):
        RangeFilter().apply(pd.DataFrame({"src_ip": ["10.0.0.1"]}))


def test_invalid_frame_addresses_are_in_no_range() -> None:
    frame = pd.DataFrame({"src_ip": ["bogus", "10.0.0.1"], "dest_ip": ["1.1.1.1"] * 2})
    assert RangeFilter.from_strings(include_src="0.0.0.0/0").apply(frame).index.tolist() == [1]
    assert RangeFilter.from_strings(exclude_src="0.0.0.0/0").apply(frame).index.tolist() == [0]


def test_from_strings_errors_and_notes() -> None:
    with pytest.raises(RangeError) as info:
        RangeFilter.from_strings(exclude_dst="10.0.0.0/8, 1.2.3")
    assert info.value.message == "exclude_dst: '1.2.3' is not a valid address or CIDR range."
    flt = RangeFilter.from_strings(include_src="10.42.1.1/16", exclude_dst="192.168.1.1/24")
    assert flt.notes == [
        "include_src: 10.42.1.1/16 has host bits set; using 10.42.0.0/16.",
        "exclude_dst: 192.168.1.1/24 has host bits set; using 192.168.1.0/24.",
    ]


def test_constructor_accepts_range_texts() -> None:
    flt = RangeFilter(exclude_src="10.42.1.1/16")  # type: ignore[arg-type]
    assert flt == RangeFilter(exclude_src=parse_ranges("10.42.0.0/16"))
    assert flt.notes == ["exclude_src: 10.42.1.1/16 has host bits set; using 10.42.0.0/16."]
    with pytest.raises(TypeError):
        RangeFilter(include_src=["10.0.0.0/8"])  # type: ignore[arg-type]
    with pytest.raises(RangeError, match="include_dst: 'x' is not"):
        RangeFilter(include_dst="x")  # type: ignore[arg-type]


def test_describe() -> None:
    assert RangeFilter().describe() == "No range filter: keeping every row."
    assert not RangeFilter()
    flt = RangeFilter.from_strings(
        include_src="10.0.0.0/8", exclude_src="10.42.0.0/16", exclude_dst="fe80::/10"
    )
    assert flt
    assert flt.describe() == (
        "Keeping rows with source in 10.0.0.0/8; source not in 10.42.0.0/16; "
        "destination not in fe80::/10."
    )
    assert RangeFilter(drop_unaddressed=True).describe() == (
        "Keeping rows with both addresses present."
    )
    assert RangeFilter.from_strings(include_dst="8.8.8.8", drop_unaddressed=True).describe() == (
        "Keeping rows with destination in 8.8.8.8; both addresses present."
    )
    assert "\n" not in flt.describe()


def test_dict_round_trip_through_json() -> None:
    flt = RangeFilter.from_strings(
        include_src="10.42.1.1/16 10.1.2.3",
        include_dst="",
        exclude_src="fe80::/10",
        exclude_dst="192.168.0.0/24",
        drop_unaddressed=True,
    )
    data = flt.to_dict()
    assert data == {
        "include_src": "10.1.2.3, 10.42.0.0/16",
        "include_dst": "",
        "exclude_src": "fe80::/10",
        "exclude_dst": "192.168.0.0/24",
        "drop_unaddressed": True,
    }
    assert RangeFilter.from_dict(json.loads(json.dumps(data))) == flt
    assert RangeFilter.from_dict({}) == RangeFilter()
    listed = RangeFilter.from_dict({"exclude_src": ["10.0.0.0/8", "fe80::/10"]})
    assert str(listed.exclude_src) == "10.0.0.0/8, fe80::/10"
    assert RangeFilter.from_dict({"include_src": None}) == RangeFilter()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"include": "10.0.0.0/8"}, "'include' is not a range filter field."),
        ({"include_src": 10}, "include_src must be a string or a list of strings."),
        ({"include_src": ["10.0.0.0/8", 3]}, "include_src must be a string or a list of strings."),
        ({"drop_unaddressed": "yes"}, "drop_unaddressed must be true or false."),
        ({"exclude_src": "10.0.0.0/33"}, "exclude_src: '10.0.0.0/33' is not a valid"),
        ([], "A range filter must be a JSON object."),
    ],
)
def test_from_dict_errors(data: object, message: str) -> None:
    with pytest.raises(RangeError) as info:
        RangeFilter.from_dict(data)  # type: ignore[arg-type]
    assert info.value.message.startswith(message)


# ------------------------------------------------------------------ scale


def test_one_million_rows() -> None:
    n = 1_000_000
    rng = np.random.default_rng(7)
    pool = np.array(
        [f"10.42.{i}.{j}" for i in range(20) for j in range(1, 101)]
        + [f"192.168.{i}.{i + 1}" for i in range(100)]
        + [f"2001:db8::{i:x}" for i in range(100)]
        + [f"::ffff:10.42.0.{i}" for i in range(1, 50)]
        + [f"8.8.{i}.{i}" for i in range(200)],
        dtype=object,
    )
    src = pool[rng.integers(0, len(pool), n)]
    dst = pool[rng.integers(0, len(pool), n)]
    src[::97] = None
    dst[::89] = None
    table = pa.table(
        {
            name: pa.array(src if name == "src_ip" else dst, pa.string())
            if name in ("src_ip", "dest_ip")
            else pa.nulls(n, frames.ALERT_SCHEMA.field(name).type)
            for name in frames.ALERT_COLUMNS
        },
        schema=frames.ALERT_SCHEMA,
    )
    frame = frames.table_to_frame(table)
    flt = RangeFilter.from_strings(
        exclude_src="10.42.0.0/24", include_dst="10.42.0.0/16 2001:db8::/120"
    )
    start = time.perf_counter()
    out = flt.apply(frame)
    elapsed = time.perf_counter() - start

    # the same decision per row, the slow way (per distinct address with ipaddress)
    excl = ipaddress.ip_network("10.42.0.0/24")
    incl = [ipaddress.ip_network("10.42.0.0/16"), ipaddress.ip_network("2001:db8::/120")]

    def v4(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        a = ipaddress.ip_address(text)
        return a.ipv4_mapped if a.version == 6 and a.ipv4_mapped else a

    src_ok = {p: not (v4(p).version == 4 and v4(p) in excl) for p in pool}
    dst_ok = {
        p: any(
            a.version == n.version and a in n
            for n in incl
            for a in {ipaddress.ip_address(p), v4(p)}
        )
        for p in pool
    }
    expected = np.array(
        [
            (s is None or src_ok[s]) and (d is None or dst_ok[d])
            for s, d in zip(src, dst, strict=True)
        ]
    )
    assert len(out) == int(expected.sum())
    assert 100_000 < len(out) < n
    assert np.array_equal(out.index.to_numpy(), np.flatnonzero(expected))
    assert elapsed < 10, f"filtering 1M rows took {elapsed:.1f}s"
