"""Which addresses may be sent to VirusTotal, and their canonical text form.

Whether an address is global comes from :mod:`jupyter_sauce.addresses`.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


ZONE_ID_ERROR = "not an IP address (zone ids are not supported)"


def parse_ip(text: str) -> IPAddress:
    """Parse an IPv4/IPv6 address (surrounding whitespace allowed); ValueError if not one.

    Zone ids (``fe80::1%eth0``) are refused, as everywhere in the package
    (:func:`jupyter_sauce.addresses.parse`): the address means nothing off its host.
    """
    text = str(text).strip()
    if "%" in text:
        raise ValueError(ZONE_ID_ERROR)
    return ipaddress.ip_address(text)


def canonical_ip(text: str) -> str:
    """The canonical text of an address (IPv6 compressed, lower case); ValueError if not one."""
    from ..addresses import canonical_of

    return canonical_of(parse_ip(text))


def non_global_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be looked up (e.g. "private address"), or None if it is global.

    Uses the package-wide classes of :mod:`jupyter_sauce.addresses`, so the IoC table's
    class and the lookup decision always agree.
    """
    from ..addresses import classify

    cls = classify(str(ip))
    return None if cls == "global" else f"{cls} address"
