"""Which addresses may be sent to VirusTotal, and their canonical text form.

A private copy on purpose: the package-wide ``jupyter_sauce.addresses`` is developed
separately; this module only needs "is it global, and if not, why not".
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> IPAddress:
    """Parse an IPv4/IPv6 address (surrounding whitespace allowed); ValueError if not one."""
    return ipaddress.ip_address(str(text).strip())


def canonical_ip(text: str) -> str:
    """The canonical text of an address (IPv6 compressed, lower case); ValueError if not one."""
    return str(parse_ip(text))


def non_global_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be looked up (e.g. "private address"), or None if it is global.

    Global means ``ip.is_global`` and not multicast (``is_global`` is true for some
    multicast ranges).
    """
    if ip.is_global and not ip.is_multicast:
        return None
    for attribute, label in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, attribute):
            return f"{label} address"
    return "not a globally routable address"
