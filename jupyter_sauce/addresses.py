"""IP address classes and canonical text, for single values and for pandas Series.

Classes
-------
:func:`classify` returns exactly one of :data:`CLASSES`. Ranges overlap (``0.0.0.0`` is
also in ``0.0.0.0/8``; ``255.255.255.255`` is in ``240.0.0.0/4``), so the first class in
this precedence order whose ranges contain the address wins:

1. ``unspecified``   ``0.0.0.0``, ``::``
2. ``loopback``      ``127.0.0.0/8``, ``::1``
3. ``link-local``    ``169.254.0.0/16``, ``fe80::/10``
4. ``multicast``     ``224.0.0.0/4``, ``ff00::/8``
5. ``documentation`` ``192.0.2.0/24``, ``198.51.100.0/24``, ``203.0.113.0/24``,
   ``2001:db8::/32``, ``3fff::/20``
6. ``shared``        ``100.64.0.0/10`` (carrier-grade NAT)
7. ``private``       ``10.0.0.0/8``, ``172.16.0.0/12``, ``192.168.0.0/16``, ``fc00::/7``
8. ``reserved``      other special-purpose space: ``0.0.0.0/8``, ``192.0.0.0/24``,
   ``198.18.0.0/15``, ``240.0.0.0/4`` (with broadcast); for IPv6 ``::/8`` (the rest of
   it), ``100::/64``, ``2001:2::/48``, ``2001:10::/28``, ``fec0::/10`` and everything
   else outside global unicast ``2000::/3``
9. ``global``        everything else

The tables are our own (not ``ipaddress``'s ``is_*`` flags), so results do not change
with the Python version.

IPv4-mapped IPv6 (``::ffff:a.b.c.d``) is the same host as ``a.b.c.d``: it gets the
class of the embedded IPv4 address. So do NAT64 addresses (``64:ff9b::a.b.c.d``,
RFC 6052 well-known prefix), which stand for the embedded IPv4 host.
:func:`canonical` keeps a mapped address IPv6 but writes the tail dotted
(``::ffff:10.1.2.3``, RFC 5952 section 5) on every Python version.

Series helpers work on unique values only (frames can have millions of rows with a few
thousand distinct addresses) and keep nulls as nulls.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from .errors import InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

CLASSES = (
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
"""Every class :func:`classify` can return, in precedence order."""

_TABLE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("unspecified", ("0.0.0.0/32", "::/128")),
    ("loopback", ("127.0.0.0/8", "::1/128")),
    ("link-local", ("169.254.0.0/16", "fe80::/10")),
    ("multicast", ("224.0.0.0/4", "ff00::/8")),
    (
        "documentation",
        ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20"),
    ),
    ("shared", ("100.64.0.0/10",)),
    ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    (
        "reserved",
        (
            "0.0.0.0/8",
            "192.0.0.0/24",
            "198.18.0.0/15",
            "240.0.0.0/4",
            "::/8",
            "100::/64",
            "2001:2::/48",
            "2001:10::/28",
            "fec0::/10",
        ),
    ),
)
_RULES = tuple((name, tuple(ipaddress.ip_network(n) for n in nets)) for name, nets in _TABLE)
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

STRING = pd.ArrowDtype(pa.string())
BOOL = pd.ArrowDtype(pa.bool_())


class AddressError(InputError):
    """A value is not an IP address."""


def parse(ip: str) -> IPAddress:
    """Parse one IP address (surrounding whitespace allowed); raise :class:`AddressError`.

    Zone ids (``fe80::1%eth0``) and leading zeros in IPv4 octets are rejected.
    """
    if not isinstance(ip, str):
        raise AddressError(f"{ip!r} is not an IP address.")
    return _parse(ip)


@lru_cache(maxsize=65536)
def _parse(ip: str) -> IPAddress:
    text = ip.strip()
    if "%" in text:
        raise AddressError(f"{ip!r} is not an IP address (zone ids are not supported).")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise AddressError(f"{ip!r} is not an IP address.") from None


def host_of(addr: IPAddress) -> IPAddress:
    """The host an address stands for: the embedded IPv4 address of an IPv4-mapped or
    NAT64 (``64:ff9b::/96``) IPv6 address, else the address itself."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr in _V6_NAT64:
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr


def _class_of(addr: IPAddress) -> str:
    addr = host_of(addr)
    for name, nets in _RULES:
        if any(addr in net for net in nets if net.version == addr.version):
            return name
    if isinstance(addr, ipaddress.IPv6Address) and addr not in _V6_GLOBAL_UNICAST:
        return "reserved"
    return "global"


def classify(ip: str) -> str:
    """Return the class of ``ip``: one of :data:`CLASSES` (see the module docstring).

    >>> classify("100.64.1.2"), classify("::ffff:10.0.0.1"), classify("8.8.8.8")
    ('shared', 'private', 'global')
    """
    return _class_of(parse(ip))  # parse() is cached; the table walk is cheap


def canonical_of(addr: IPAddress) -> str:
    """Canonical text of a parsed address (see :func:`canonical`)."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return f"::ffff:{addr.ipv4_mapped}"
    return addr.compressed


def canonical(ip: str) -> str:
    """Return the canonical text of ``ip``: IPv4 dotted plain, IPv6 compressed lowercase.

    IPv4-mapped IPv6 keeps its family and is written ``::ffff:a.b.c.d``.

    >>> canonical("2001:DB8:0:0::1"), canonical(" 10.0.0.1 ")
    ('2001:db8::1', '10.0.0.1')
    """
    return canonical_of(parse(ip))


def is_lookup_candidate(ip: str) -> bool:
    """True if ``ip`` is worth an external lookup: class ``global`` and not multicast."""
    return classify(ip) == "global"


def sort_key(ip: str) -> tuple[int, int]:
    """Numeric sort key: IPv4 before IPv6, then by address value."""
    addr = parse(ip)
    return addr.version, int(addr)


# ---------------------------------------------------------------- Series helpers

Invalid = Literal["raise", "null"]


def map_unique(
    series: pd.Series,
    func: Callable[[str], object],
    dtype: pd.ArrowDtype,
    invalid: Invalid = "raise",
) -> pd.Series:
    """Apply ``func`` once per distinct non-null value of ``series`` and broadcast back.

    Nulls stay null. With ``invalid="null"`` values for which ``func`` raises
    :class:`AddressError` become null instead of raising. Index and name are kept.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    results: list[object] = []
    for value in uniques:
        try:
            results.append(func(value))
        except AddressError:
            if invalid == "raise":
                raise
            results.append(None)
    table = pa.array(results, type=dtype.pyarrow_dtype)
    indices = pa.array(codes, mask=codes < 0) if len(codes) else pa.array([], pa.int64())
    values = table.take(indices) if len(table) else pa.nulls(len(codes), dtype.pyarrow_dtype)
    return pd.Series(pd.arrays.ArrowExtensionArray(values), index=series.index, name=series.name)


def canonical_series(series: pd.Series, invalid: Invalid = "raise") -> pd.Series:
    """:func:`canonical` of every value (computed per unique value), Arrow string dtype."""
    return map_unique(series, canonical, STRING, invalid)


def classify_series(series: pd.Series, invalid: Invalid = "raise") -> pd.Series:
    """:func:`classify` of every value (computed per unique value), Arrow string dtype."""
    return map_unique(series, classify, STRING, invalid)


def lookup_candidate_series(series: pd.Series, invalid: Invalid = "raise") -> pd.Series:
    """:func:`is_lookup_candidate` of every value (per unique value), Arrow bool dtype."""
    return map_unique(series, is_lookup_candidate, BOOL, invalid)


def sort_order(ips: pd.Series | list[str]) -> np.ndarray:
    """Rank of each address in numeric order (:func:`sort_key`), for ``np.lexsort``."""
    values = list(ips)
    order = sorted(range(len(values)), key=lambda i: sort_key(values[i]))
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(len(values))
    return ranks
