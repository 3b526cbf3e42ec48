"""The starter ruleset: a few rules written by this project, so a demo alerts offline.

Four detections, sids 9000001-9000004 (a private range), each with a reference to the
case it comes from:

* 9000001 — an Nmap / Nmap Scripting Engine HTTP User-Agent;
* 9000002 — a Windows executable (body starting with ``MZ``) downloaded over HTTP;
* 9000003 — an RDP brute force: 5+ SYNs from one source to ``$HOME_NET`` 3389 within
  60 s (one alert per source per window; which SYN triggers it can vary in multi-threaded
  runmodes, which may evaluate the SYNs out of order — ``--runmode single`` is exact);
* 9000004 — a TLS session to an IP of a bad-IP list (default ``203.78.103.109``), once
  per flow (a flowbit), whatever the handshake contains (no SNI needed).

The others use ``any`` addresses, so they fire whatever HOME_NET is set to.

:func:`render_starter_rules` returns the rules text; :data:`STARTER_CLASSIFICATION` is the
``classification.config`` that defines every classtype they use (lines copied from
Suricata's own file). :func:`write_starter_ruleset` writes both to a directory.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

from .errors import InputError

DEFAULT_BAD_IPS: tuple[str, ...] = ("203.78.103.109",)

SID_NMAP_UA = 9000001
SID_EXE_DOWNLOAD = 9000002
SID_RDP_BRUTE_FORCE = 9000003
SID_TLS_BAD_IP = 9000004

STARTER_CLASSIFICATION = """\
# classification.config for the jupyter_sauce starter rules (lines from Suricata's own)
config classification: attempted-recon,Attempted Information Leak,2
config classification: attempted-admin,Attempted Administrator Privilege Gain,1
config classification: policy-violation,Potential Corporate Privacy Violation,1
config classification: trojan-activity,A Network Trojan was detected, 1
config classification: web-application-attack,Web Application Attack,1
config classification: bad-unknown,Potentially Bad Traffic, 2
"""

_CASE_REF = "reference:url,dfirmadness.com/the-stolen-szechuan-sauce/;"
_META = "metadata:created_at 2024_05_01, updated_at 2024_05_01, project jupyter_sauce;"

_FIXED_RULES = (
    'alert http any any -> any any (msg:"SAUCE SCAN Nmap Scripting Engine or Nmap User-Agent";'
    ' flow:established,to_server; http.user_agent; content:"nmap"; nocase; fast_pattern;'
    f" reference:url,nmap.org/book/nse.html; {_CASE_REF} classtype:attempted-recon;"
    f" sid:{SID_NMAP_UA}; rev:1; {_META})",
    'alert http any any -> any any (msg:"SAUCE POLICY Windows executable (MZ) downloaded over'
    ' HTTP"; flow:established,to_client; file.data; content:"MZ"; depth:2;'
    f" {_CASE_REF} classtype:policy-violation; sid:{SID_EXE_DOWNLOAD}; rev:1; {_META})",
    'alert tcp any any -> $HOME_NET 3389 (msg:"SAUCE SCAN Possible RDP brute force (5+'
    ' connections to 3389 in 60s from one source)"; flow:to_server; flags:S,12;'
    " threshold: type both, track by_src, count 5, seconds 60;"
    " reference:url,attack.mitre.org/techniques/T1110/;"
    f" {_CASE_REF} classtype:attempted-admin; sid:{SID_RDP_BRUTE_FORCE}; rev:1; {_META})",
)


def canonical_ips(bad_ips: Iterable[str]) -> list[str]:
    """Validate and canonicalise IP addresses (IPv4 or IPv6), dropping duplicates.

    Raises :class:`InputError` naming the first entry that is not a single IP address.
    """
    if isinstance(bad_ips, str):
        raise InputError("bad_ips must be a list of IP addresses, not one string.")
    out: list[str] = []
    for raw in bad_ips:
        text = str(raw).strip()
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            raise InputError(f"Not an IP address in the bad-IP list: {raw!r}.") from None
        if str(ip) not in out:
            out.append(str(ip))
    return out


def render_starter_rules(bad_ips: list[str] | None = None) -> str:
    """The starter rules as Suricata rule text, one rule per line.

    ``bad_ips`` feeds rule 9000004 (TLS to a listed IP); ``None`` means
    :data:`DEFAULT_BAD_IPS`, an empty list leaves that rule out.
    """
    ips = canonical_ips(DEFAULT_BAD_IPS if bad_ips is None else bad_ips)
    lines = ["# jupyter_sauce starter rules (sids 9000001-9000004); generated, do not edit"]
    lines += _FIXED_RULES
    if ips:
        lines.append(
            f'alert tls any any -> [{",".join(ips)}] any (msg:"SAUCE TROJAN TLS session to a'
            ' listed bad IP"; flow:established,to_server;'
            # a TLS keyword makes it a transaction rule, so the alert carries the TLS record
            " ssl_version:sslv3,tls1.0,tls1.1,tls1.2,tls1.3; flowbits:isnotset,sauce.tls.bad_ip;"
            " flowbits:set,sauce.tls.bad_ip;"
            f" {_CASE_REF} classtype:trojan-activity; sid:{SID_TLS_BAD_IP}; rev:1; {_META})"
        )
    return "\n".join(lines) + "\n"


def write_starter_ruleset(
    directory: str | Path, bad_ips: list[str] | None = None
) -> tuple[Path, Path]:
    """Write ``starter.rules`` and ``classification.config`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rules = directory / "starter.rules"
    classification = directory / "classification.config"
    rules.write_text(render_starter_rules(bad_ips), encoding="utf-8")
    classification.write_text(STARTER_CLASSIFICATION, encoding="utf-8")
    return rules, classification
