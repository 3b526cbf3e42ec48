"""The per-run Suricata configuration, generated (the system suricata.yaml is never edited).

JSON is valid YAML 1.1 flow syntax, so values are written with ``json.dumps`` and no
user text can break the document's structure.
"""

from __future__ import annotations

import json
from pathlib import Path

_APP_LAYER_ON = (
    "telnet rfb mqtt krb5 bittorrent-dht snmp ike tls dcerpc ftp rdp ssh http2 smtp smb nfs "
    "tftp http ntp quic dhcp sip"
).split()

PORT_GROUPS = {
    "HTTP_PORTS": "80",
    "SHELLCODE_PORTS": "!80",
    "ORACLE_PORTS": "1521",
    "SSH_PORTS": "22",
    "DNP3_PORTS": "20000",
    "MODBUS_PORTS": "502",
    "FILE_DATA_PORTS": "[$HTTP_PORTS,110,143]",
    "FTP_PORTS": "21",
    "GENEVE_PORTS": "6081",
    "VXLAN_PORTS": "4789",
    "TEREDO_PORTS": "3544",
}
_SERVER_GROUPS = (
    "HTTP_SERVERS SMTP_SERVERS SQL_SERVERS DNS_SERVERS TELNET_SERVERS AIM_SERVERS DC_SERVERS "
    "DNP3_SERVER DNP3_CLIENT MODBUS_CLIENT MODBUS_SERVER ENIP_CLIENT ENIP_SERVER"
).split()


def home_net_value(cidrs: list[str]) -> str:
    """Suricata's address-group syntax for a list of CIDRs: ``[a,b,c]``."""
    return "[" + ",".join(cidrs) + "]"


def render_config(
    *,
    home_net: list[str],
    rule_file: Path,
    classification_file: Path,
    reference_file: Path | None,
    threshold_file: Path,
    log_dir: Path,
    runmode: str = "single",
) -> str:
    """A complete suricata.yaml for one analysis (or one warm engine)."""
    q = json.dumps
    lines = ["%YAML 1.1", "---", "vars:", "  address-groups:"]
    lines.append(f"    HOME_NET: {q(home_net_value(home_net))}")
    lines.append(f"    EXTERNAL_NET: {q('!$HOME_NET')}")
    lines += [f"    {name}: {q('$HOME_NET')}" for name in _SERVER_GROUPS]
    lines.append("  port-groups:")
    lines += [f"    {name}: {q(value)}" for name, value in PORT_GROUPS.items()]
    lines += [
        f"default-log-dir: {q(str(log_dir))}",
        f"runmode: {q(runmode)}",
        "stats:",
        "  enabled: no",
        "outputs:",
        "  - fast:",
        "      enabled: yes",
        "      filename: fast.log",
        "      append: no",
        "  - eve-log:",
        "      enabled: yes",
        "      filetype: regular",
        "      filename: eve.json",
        "      types:",
        "        - alert:",
        "            metadata: yes",
        "            tagged-packets: no",
        "        - anomaly:",
        "            enabled: yes",
        "            types:",
        "              decode: yes",  # broken packets: what a damaged capture shows
        "              stream: no",  # TCP stream oddities: thousands per real capture
        "              applayer: yes",
        "        - http:",
        "            extended: yes",
        "        - dns",
        "        - tls:",
        "            extended: yes",
        "        - files:",
        "            force-magic: no",
        "        - flow",
        "logging:",
        "  default-log-level: notice",
        "  outputs:",
        "    - console:",
        "        enabled: no",
        "    - file:",
        "        enabled: yes",
        "        level: info",
        f"        filename: {q(str(log_dir / 'suricata.log'))}",
        "app-layer:",
        "  protocols:",
    ]
    for proto in _APP_LAYER_ON:
        lines += [f"    {proto}:", "      enabled: yes"]
    lines += [
        "    dns:",
        "      tcp:",
        "        enabled: yes",
        "      udp:",
        "        enabled: yes",
        "    imap:",
        "      enabled: detection-only",
        "    modbus:",
        "      enabled: no",
        "    dnp3:",
        "      enabled: no",
        "    enip:",
        "      enabled: no",
        "    pgsql:",
        "      enabled: no",
        "pcap-file:",
        "  checksum-checks: no",
        "unix-command:",
        "  enabled: auto",
        f"default-rule-path: {q(str(rule_file.parent))}",
        "rule-files:",
        f"  - {q(rule_file.name)}",
        f"classification-file: {q(str(classification_file))}",
        f"threshold-file: {q(str(threshold_file))}",
    ]
    if reference_file is not None:
        lines.append(f"reference-config-file: {q(str(reference_file))}")
    return "\n".join(lines) + "\n"
