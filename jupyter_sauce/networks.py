"""Network ranges typed by people, and include/exclude filters over alert and flow frames.

``parse_ranges("10.42.0.0/16, 192.168.0.0/24 fe80::/10 10.1.2.3")`` accepts commas
and/or whitespace between items, single addresses (as /32 or /128), IPv4 and IPv6.
Ranges with host bits set are normalised and a note says so.

Membership of frame addresses is computed once per distinct address with integer
interval searches (numpy for IPv4, :mod:`bisect` for IPv6), then broadcast to rows.
An IPv4-mapped address (``::ffff:10.1.2.3``) is in a set of ranges if either it or the
embedded IPv4 address (``10.1.2.3``) is; a plain IPv4 address never matches IPv6 ranges.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import RangeError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_SEPARATORS = re.compile(r"[\s,]+")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$"


def _parse_token(token: str) -> tuple[Network, str | None]:
    """One item → (network, note or None); RangeError naming the token if it is bad."""
    bad = RangeError(f"{token!r} is not a valid address or CIDR range.")
    if "%" in token:
        raise bad
    address, _, prefix = token.partition("/")
    if "/" in token and not prefix.isdigit():
        raise bad
    try:
        network = ipaddress.ip_network(token, strict=False)
        host = ipaddress.ip_address(address)
    except ValueError:
        raise bad from None
    if host != network.network_address:
        return network, f"{token} has host bits set; using {_text(network)}."
    return network, None


def _text(network: Network) -> str:
    """Canonical text of one network; a single address is written without its prefix."""
    if network.num_addresses == 1:
        return network.network_address.compressed
    return network.compressed


def _intervals(networks: list[Network]) -> tuple[list[int], list[int]]:
    """Sorted, merged [first, last] integer intervals covering ``networks``."""
    spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in networks)
    starts: list[int] = []
    ends: list[int] = []
    for first, last in spans:
        if starts and first <= ends[-1] + 1:
            ends[-1] = max(ends[-1], last)
        else:
            starts.append(first)
            ends.append(last)
    return starts, ends


@dataclass(frozen=True)
class Ranges:
    """A set of IPv4/IPv6 networks. ``str()`` is canonical and round-trips through
    :func:`parse_ranges`: sorted (IPv4 first, by address then prefix), deduplicated,
    comma-separated, single addresses without ``/32`` or ``/128``.

    ``notes`` holds sentences about normalisations made while parsing (not compared).
    """

    networks: tuple[Network, ...] = ()
    notes: list[str] = field(default_factory=list, compare=False)
    _v4: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)
    _v6: tuple[list[int], list[int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unique = sorted(set(self.networks), key=lambda n: (n.version, n))
        object.__setattr__(self, "networks", tuple(unique))
        starts, ends = _intervals([n for n in unique if n.version == 4])
        v4 = (np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64))
        object.__setattr__(self, "_v4", v4)
        object.__setattr__(self, "_v6", _intervals([n for n in unique if n.version == 6]))

    def __str__(self) -> str:
        return ", ".join(_text(n) for n in self.networks)

    def __repr__(self) -> str:
        return f"Ranges({str(self)!r})"

    def __len__(self) -> int:
        return len(self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __iter__(self) -> Iterator[Network]:
        return iter(self.networks)

    def __contains__(self, item: object) -> bool:
        """An address (text or ``ipaddress`` object) or a whole network inside the set."""
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            return any(item.version == n.version and item.subnet_of(n) for n in self.networks)
        if isinstance(item, str):
            try:
                item = ipaddress.ip_address(item.strip())
            except ValueError:
                return False
        if not isinstance(item, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        if item.version == 6 and self._in_v6(int(item)):
            return True
        if item.version == 6 and item.ipv4_mapped is not None:
            item = item.ipv4_mapped
        return item.version == 4 and bool(self._in_v4(np.array([int(item)]))[0])

    def _in_v4(self, values: np.ndarray) -> np.ndarray:
        starts, ends = self._v4
        if not len(starts):
            return np.zeros(len(values), dtype=bool)
        idx = np.searchsorted(starts, values, side="right") - 1
        return (idx >= 0) & (values <= ends[np.maximum(idx, 0)])

    def _in_v6(self, value: int) -> bool:
        starts, ends = self._v6
        i = bisect.bisect_right(starts, value) - 1
        return i >= 0 and value <= ends[i]

    def contains_many(self, addresses: pd.Series | pa.Array | list[str | None]) -> np.ndarray:
        """Boolean membership of each value; nulls and invalid text are False.

        Meant for distinct values (call it on uniques and broadcast): IPv4 text is
        parsed vectorised, anything else with :mod:`ipaddress`.
        """
        arr = pa.array(addresses, type=pa.string(), from_pandas=True)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        result = np.zeros(len(arr), dtype=bool)
        if not self.networks or not len(arr):
            return result
        is_v4 = pc.fill_null(pc.match_substring_regex(arr, _IPV4), False).to_numpy(
            zero_copy_only=False
        )
        v4_pos = np.flatnonzero(is_v4)
        if len(v4_pos) and len(self._v4[0]):
            parts = pc.split_pattern(arr.take(pa.array(v4_pos)), ".")
            octets = pc.cast(pc.list_flatten(parts), pa.int64()).to_numpy().reshape(-1, 4)
            values = (
                (octets[:, 0] << 24) | (octets[:, 1] << 16) | (octets[:, 2] << 8) | octets[:, 3]
            )
            result[v4_pos] = self._in_v4(values)
        other = np.flatnonzero(~is_v4 & ~arr.is_null().to_numpy(zero_copy_only=False))
        for pos, text in zip(other, arr.take(pa.array(other)).to_pylist(), strict=True):
            result[pos] = text in self
        return result


def parse_ranges(text: str) -> Ranges:
    """Parse addresses and CIDR ranges separated by commas and/or whitespace.

    Empty text gives empty :class:`Ranges`. A bad item raises
    :class:`~jupyter_sauce.errors.RangeError` naming it, e.g.
    ``'10.0.0.0/33' is not a valid address or CIDR range.``
    """
    if not isinstance(text, str):
        raise RangeError(f"{text!r} is not a list of addresses or CIDR ranges.")
    networks: list[Network] = []
    notes: list[str] = []
    for token in _SEPARATORS.split(text.strip()):
        if not token:
            continue
        network, note = _parse_token(token)
        networks.append(network)
        if note and note not in notes:
            notes.append(note)
    return Ranges(tuple(networks), notes)


_FIELDS = ("include_src", "include_dst", "exclude_src", "exclude_dst")
_LABELS = {
    "include_src": "source in",
    "exclude_src": "source not in",
    "include_dst": "destination in",
    "exclude_dst": "destination not in",
}


@dataclass(frozen=True)
class RangeFilter:
    """Keep/drop frame rows by ``src_ip`` / ``dest_ip`` (alerts or flows).

    A non-empty ``include_*`` keeps only rows whose address is in it; ``exclude_*`` drops
    rows whose address is in it; all four must pass. A null address (decoder events)
    passes that column's ranges; ``drop_unaddressed=True`` drops every row whose
    ``src_ip`` or ``dest_ip`` is null. Addresses that do not parse are in no range.
    """

    include_src: Ranges = field(default_factory=Ranges)
    include_dst: Ranges = field(default_factory=Ranges)
    exclude_src: Ranges = field(default_factory=Ranges)
    exclude_dst: Ranges = field(default_factory=Ranges)
    drop_unaddressed: bool = False

    def __post_init__(self) -> None:
        for name in _FIELDS:  # accept range texts too: RangeFilter(exclude_src="10.0.0.0/8")
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, _parse_field(name, value))
            elif not isinstance(value, Ranges):
                raise TypeError(f"{name} must be Ranges or str, not {type(value).__name__}")

    @classmethod
    def from_strings(
        cls,
        include_src: str = "",
        include_dst: str = "",
        exclude_src: str = "",
        exclude_dst: str = "",
        drop_unaddressed: bool = False,
    ) -> RangeFilter:
        """Build a filter from four range texts (see :func:`parse_ranges`)."""
        return cls(include_src, include_dst, exclude_src, exclude_dst, bool(drop_unaddressed))

    @property
    def notes(self) -> list[str]:
        """Normalisation notes of all four range sets."""
        return [note for name in _FIELDS for note in getattr(self, name).notes]

    def __bool__(self) -> bool:
        """False when applying the filter would keep every row."""
        return self.drop_unaddressed or any(getattr(self, name) for name in _FIELDS)

    def describe(self) -> str:
        """One-line human summary, e.g. ``Keeping source not in 10.42.0.0/16.``"""
        parts = [f"{label} {getattr(self, n)}" for n, label in _LABELS.items() if getattr(self, n)]
        if self.drop_unaddressed:
            parts.append("both addresses present")
        if not parts:
            return "No range filter: keeping every row."
        return "Keeping rows with " + "; ".join(parts) + "."

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: canonical range texts and ``drop_unaddressed``."""
        out: dict[str, Any] = {name: str(getattr(self, name)) for name in _FIELDS}
        out["drop_unaddressed"] = self.drop_unaddressed
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RangeFilter:
        """Inverse of :meth:`to_dict`; missing keys are empty, range values may also be
        lists of strings. Unknown keys or wrong types raise RangeError."""
        if not isinstance(data, Mapping):
            raise RangeError("A range filter must be a JSON object.")
        unknown = sorted(set(data) - {*_FIELDS, "drop_unaddressed"})
        if unknown:
            raise RangeError(f"{unknown[0]!r} is not a range filter field.")
        texts: dict[str, str] = {}
        for name in _FIELDS:
            value = data.get(name) or ""
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = ", ".join(value)
            if not isinstance(value, str):
                raise RangeError(f"{name} must be a string or a list of strings.")
            texts[name] = value
        drop = data.get("drop_unaddressed", False)
        if not isinstance(drop, bool):
            raise RangeError("drop_unaddressed must be true or false.")
        return cls.from_strings(**texts, drop_unaddressed=drop)

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of ``frame`` that pass the filter (original index kept; a new frame)."""
        missing = [c for c in ("src_ip", "dest_ip") if c not in frame.columns]
        if missing:
            raise ValueError(f"frame has no {missing[0]} column")
        keep = np.ones(len(frame), dtype=bool)
        for column, include, exclude in (
            ("src_ip", self.include_src, self.exclude_src),
            ("dest_ip", self.include_dst, self.exclude_dst),
        ):
            if not (include or exclude or self.drop_unaddressed):
                continue
            codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
            unaddressed = codes < 0
            if include:
                keep &= np.append(include.contains_many(uniques), True)[codes]
            if exclude:
                keep &= ~np.append(exclude.contains_many(uniques), False)[codes]
            if self.drop_unaddressed:
                keep &= ~unaddressed
        return frame.loc[keep]


def _parse_field(name: str, text: str) -> Ranges:
    """parse_ranges, with the field name prefixed to error messages and notes."""
    try:
        ranges = parse_ranges(text)
    except RangeError as exc:
        raise RangeError(f"{name}: {exc.message}") from None
    return Ranges(ranges.networks, [f"{name}: {note}" for note in ranges.notes])
