"""addresses: classes and their precedence, canonical text, Series helpers."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from jupyter_sauce import addresses
from jupyter_sauce.addresses import (
    CLASSES,
    AddressError,
    canonical,
    canonical_series,
    classify,
    classify_series,
    is_lookup_candidate,
    lookup_candidate_series,
)
from jupyter_sauce.errors import InputError

STRING = pd.ArrowDtype(pa.string())


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("febf:ffff::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::fb", "multicast"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.255", "documentation"),
        ("2001:db8::1", "documentation"),
        ("3fff:0fff::1", "documentation"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("10.42.1.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("fc00::1", "private"),
        ("0.1.2.3", "reserved"),
        ("192.0.0.8", "reserved"),
        ("198.18.0.1", "reserved"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::1.2.3.4", "reserved"),
        ("100::1", "reserved"),
        ("2001:2::1", "reserved"),
        ("fec0::1", "reserved"),
        ("4000::1", "reserved"),
        ("8.8.8.8", "global"),
        ("100.63.255.255", "global"),
        ("100.128.0.0", "global"),
        ("172.32.0.1", "global"),
        ("194.61.24.102", "global"),
        ("2606:4700::1111", "global"),
        ("2002:c000:0204::1", "global"),
        ("3fff:1000::1", "global"),
    ],
)
def test_classify(ip: str, expected: str) -> None:
    assert classify(ip) == expected
    assert expected in CLASSES


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:8.8.8.8", "global"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:0.0.0.0", "unspecified"),
        ("::ffff:100.64.0.1", "shared"),
        ("::FFFF:C000:0201", "documentation"),
        ("64:ff9b::8.8.8.8", "global"),
        ("64:ff9b::10.0.0.1", "private"),
    ],
)
def test_classify_embedded_ipv4(ip: str, expected: str) -> None:
    assert classify(ip) == expected


def test_precedence_order() -> None:
    assert CLASSES == (
        "unspecified",
        "loopback",
        "link-local",
        "multicast",
        "documentation",
        "shared",
        "private",
        "reserved",
        "global",
    )
    # 0.0.0.0 and 255.255.255.255 lie in reserved blocks too; the earlier class wins
    assert classify("0.0.0.0") == "unspecified"
    assert classify("::") == "unspecified"
    assert classify("::1") == "loopback"  # also inside ::/8


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        (" 10.0.0.1\n", "10.0.0.1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"),
        ("FE80::0001", "fe80::1"),
        ("0:0:0:0:0:0:0:0", "::"),
        ("::ffff:10.1.2.3", "::ffff:10.1.2.3"),
        ("::FFFF:0A01:0203", "::ffff:10.1.2.3"),
        ("0:0:0:0:0:ffff:808:808", "::ffff:8.8.8.8"),
    ],
)
def test_canonical(ip: str, expected: str) -> None:
    assert canonical(ip) == expected
    assert canonical(expected) == expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("10.0.0.1", False),
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("ff0e::1", False),
        ("192.0.2.1", False),
        ("240.0.0.1", False),
        ("127.0.0.1", False),
    ],
)
def test_is_lookup_candidate(ip: str, expected: bool) -> None:
    assert is_lookup_candidate(ip) is expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "01.2.3.4",
        "::g",
        "1:2:3",
        "10.0.0.0/8",
        "fe80::1%eth0",
        None,
        17,
    ],
)
@pytest.mark.parametrize("func", [classify, canonical, is_lookup_candidate])
def test_invalid_input(func, bad) -> None:
    with pytest.raises(AddressError) as info:
        func(bad)
    assert isinstance(info.value, InputError)
    assert repr(bad) in info.value.message
    assert info.value.message.endswith(".")
    assert info.value.message.count(". ") == 0


def test_series_helpers_keep_index_name_and_nulls() -> None:
    s = pd.Series(
        ["10.0.0.1", None, "2001:DB8::1", "10.0.0.1", "8.8.8.8"],
        dtype=STRING,
        index=[5, 6, 7, 8, 9],
        name="src_ip",
    )
    c = canonical_series(s)
    assert c.dtype == STRING
    assert c.name == "src_ip"
    assert list(c.index) == [5, 6, 7, 8, 9]
    assert c.tolist() == ["10.0.0.1", pd.NA, "2001:db8::1", "10.0.0.1", "8.8.8.8"]
    k = classify_series(s)
    assert k.tolist() == ["private", pd.NA, "documentation", "private", "global"]
    look = lookup_candidate_series(s)
    assert look.dtype == pd.ArrowDtype(pa.bool_())
    assert look.tolist() == [False, pd.NA, False, False, True]


def test_series_helpers_empty_and_all_null() -> None:
    assert canonical_series(pd.Series([], dtype=STRING)).tolist() == []
    assert classify_series(pd.Series([None, None], dtype=STRING)).isna().all()


def test_series_invalid_values() -> None:
    s = pd.Series(["10.0.0.1", "nonsense"], dtype=STRING)
    with pytest.raises(AddressError, match="'nonsense'"):
        canonical_series(s)
    assert canonical_series(s, invalid="null").tolist() == ["10.0.0.1", pd.NA]


def test_series_works_per_unique_value(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counting(ip: str) -> str:
        calls.append(ip)
        return ip.upper()

    s = pd.Series(["a", "b", "a", None, "b"] * 1000, dtype=STRING)
    out = addresses.map_unique(s, counting, STRING)
    assert sorted(calls) == ["a", "b"]
    assert out.iloc[:5].tolist() == ["A", "B", "A", pd.NA, "B"]


def test_sort_order_is_numeric() -> None:
    ips = ["10.0.0.10", "::1", "10.0.0.2", "9.255.255.255"]
    ranks = addresses.sort_order(ips)
    assert [ips[i] for i in ranks.argsort()] == ["9.255.255.255", "10.0.0.2", "10.0.0.10", "::1"]
