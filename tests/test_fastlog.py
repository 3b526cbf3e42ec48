"""Tests of jupyter_sauce.fastlog: inline lines for every variant, the real corpus fast.log."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from jupyter_sauce import eve, fastlog
from jupyter_sauce.frames import ALERT_SCHEMA

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SAUCE_CORPUS", REPO.parent / "shared" / "corpus"))
LOGS = CORPUS / "suricata-logs"

needs_corpus = pytest.mark.skipif(
    not LOGS.is_dir(), reason=f"corpus not found at {CORPUS} (set SAUCE_CORPUS)"
)

UDP = (
    "12/17/2024-19:17:54.565494  [**] [1:2200073:2] SURICATA IPv4 invalid checksum [**] "
    "[Classification: Generic Protocol Command Decode] [Priority: 3] "
    "{UDP} 192.168.37.130:55551 -> 192.168.37.1:53"
)


def rows(text: str, **kw: str) -> list[dict]:
    result = fastlog.parse_text(text, **kw)
    assert result.report.problems == []
    frame = result.alerts
    return [
        {k: (None if v is None or v is pd.NA or v is pd.NaT else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


NULL_EXTRAS = {
    "app_proto": None,
    "flow_id": None,
    "http_hostname": None,
    "http_url": None,
    "http_user_agent": None,
    "tls_sni": None,
    "dns_query": None,
}


def test_basic_line_exact_values() -> None:
    assert rows(UDP + "\n") == [
        {
            "timestamp": utc("2024-12-17T19:17:54.565494"),
            "signature": "SURICATA IPv4 invalid checksum",
            "signature_id": 2200073,
            "rev": 2,
            "gid": 1,
            "category": "Generic Protocol Command Decode",
            "severity": 3,
            "action": "allowed",
            "proto": "UDP",
            "src_ip": "192.168.37.130",
            "src_port": 55551,
            "dest_ip": "192.168.37.1",
            "dest_port": 53,
            **NULL_EXTRAS,
        }
    ]


def test_schema() -> None:
    frame = fastlog.parse_text(UDP).alerts
    assert list(frame.columns) == ALERT_SCHEMA.names
    assert [d.pyarrow_dtype for d in frame.dtypes] == ALERT_SCHEMA.types
    empty = fastlog.parse_text("").alerts
    assert len(empty) == 0 and [d.pyarrow_dtype for d in empty.dtypes] == ALERT_SCHEMA.types


def test_ipv6_expanded_with_port_split_on_last_colon() -> None:
    line = (
        "12/17/2024-19:19:38.518119  [**] [1:100004:1] UDP Packet Detected [**] "
        "[Classification: (null)] [Priority: 3] {UDP} fe80:0000:0000:0000:8810:3337:f1e3:ebc7:546"
        " -> ff02:0000:0000:0000:0000:0000:0001:0002:547"
    )
    (row,) = rows(line)
    assert (row["src_ip"], row["src_port"]) == ("fe80::8810:3337:f1e3:ebc7", 546)
    assert (row["dest_ip"], row["dest_port"]) == ("ff02::1:2", 547)
    # the same canonical form as the eve parser
    assert row["src_ip"] == eve.canonical_ip("fe80:0000:0000:0000:8810:3337:f1e3:ebc7")
    assert row["category"] is None  # (null)


@pytest.mark.parametrize(
    ("proto_text", "addrs", "proto"),
    [
        ("{ICMP}", "66.59.111.190:8 -> 172.28.2.3:0", "ICMP"),  # type/code in port slots
        ("{IGMP}", "192.168.37.130:0 -> 224.0.0.22:0", "IGMP"),
        ("{GRE}", "172.27.1.66:0 -> 66.59.109.137:0", "GRE"),
        ("{IPv6-ICMP}", "2001:4860:8006:0000:0000:0000:0000:0063:129 -> ::1:0", "IPv6-ICMP"),
        ("{PROTO:003}", "10.0.0.1:0 -> 10.0.0.2:0", "3"),
        ("{PROTO:253}", "10.0.0.1:0 -> 10.0.0.2:0", "253"),
    ],
)
def test_protocols_without_ports_have_null_ports(proto_text: str, addrs: str, proto: str) -> None:
    line = (
        "06/11/2003-00:06:08.793044  [**] [1:2100366:8] GPL ICMP_INFO PING *NIX [**] "
        f"[Classification: Misc activity] [Priority: 3] {proto_text} {addrs}"
    )
    (row,) = rows(line)
    assert row["proto"] == proto
    assert row["src_port"] is None and row["dest_port"] is None
    assert row["src_ip"] is not None and row["dest_ip"] is not None


def test_sctp_keeps_ports() -> None:
    (row,) = rows(UDP.replace("{UDP}", "{SCTP}"))
    assert (row["src_port"], row["dest_port"]) == (55551, 53)


@pytest.mark.parametrize(
    ("prefix", "action"),
    [("", "allowed"), ("[Drop] ", "blocked"), ("[wDrop] ", "allowed")],
)
def test_drop_markers(prefix: str, action: str) -> None:
    # [wDrop] = "would drop" (IDS mode): eve.json writes "allowed" for such alerts.
    line = UDP.replace("  [**]", f"  {prefix}[**]", 1)
    (row,) = rows(line)
    assert row["action"] == action
    assert row["signature_id"] == 2200073


def test_message_with_brackets() -> None:
    line = (
        "09/10/2021-05:23:54.591487  [**] [1:9000001:1] SAUCE [icmp] echo [request] (brackets) "
        "[**] [Classification: (null)] [Priority: 3] {ICMP} 192.168.0.30:8 -> 8.8.8.8:0"
    )
    (row,) = rows(line)
    assert row["signature"] == "SAUCE [icmp] echo [request] (brackets)"
    assert (row["gid"], row["signature_id"], row["rev"]) == (1, 9000001, 1)


def test_decoder_event_without_addresses() -> None:
    line = (
        "12/16/2024-18:39:46.302630  [**] [1:2200003:2] SURICATA IPv4 truncated packet [**] "
        "[Classification: Generic Protocol Command Decode] [Priority: 3] [**] [Raw pkt: 50 EB "
        "F6 7D EA 54 6C 3B E5 27 35 BA 08 00 45 00 FE 04 00 83 00 00 40 11 66 31 0A 10 01 0A 0A "
        "10 ] [pcap file packet: 1]"
    )
    (row,) = rows(line)
    assert row["signature"] == "SURICATA IPv4 truncated packet"
    for name in ("proto", "src_ip", "src_port", "dest_ip", "dest_port"):
        assert row[name] is None, name


def test_timezone_of_the_sensor() -> None:
    assert rows(UDP)[0]["timestamp"] == utc("2024-12-17T19:17:54.565494")
    assert rows(UDP, tz="-05:00")[0]["timestamp"] == utc("2024-12-18T00:17:54.565494")
    assert rows(UDP, tz="America/New_York")[0]["timestamp"] == utc("2024-12-18T00:17:54.565494")
    summer = UDP.replace("12/17/2024", "07/01/2024")
    assert rows(summer, tz="Europe/Berlin")[0]["timestamp"] == utc("2024-07-01T17:17:54.565494")


def test_problems_blank_lines_and_truncation() -> None:
    lines = [
        UDP,  # 1
        "",  # 2 blank
        "garbage",  # 3
        UDP.replace("192.168.37.1:53", "192.168.37.1"),  # 4 no port
        UDP.replace("192.168.37.130", "not.an.ip.addr"),  # 5 bad address
        "13/45/2024-19:17:54.565494" + UDP[26:],  # 6 impossible date
        "  ",  # 7 blank
        UDP,  # 8
        UDP[:-10],  # 9 truncated last line
    ]
    result = fastlog.parse_text("\r\n".join(lines))
    report = result.report
    assert [p.line_no for p in report.problems] == [3, 4, 5, 6, 9]
    assert report.problems[0].reason == "not a fast.log alert line"
    assert report.problems[0].text == "garbage"
    assert report.problems[-1].reason.startswith("truncated last line")
    assert report.lines == 9 and report.skipped_blank == 2 and report.records == 2
    assert len(result.alerts) == 2
    assert report.lines == report.records + report.skipped_blank + report.bad_lines


def test_parse_file(tmp_path: Path) -> None:
    path = tmp_path / "fast.log"
    path.write_text(UDP + "\n" + UDP + "\n")
    result = fastlog.parse_file(path)
    assert len(result.alerts) == 2 and result.report.lines == 2


@needs_corpus
def test_corpus_fast_log_loses_no_line() -> None:
    path = LOGS / "menna-zeus-lab" / "fast.log"
    nonblank = [line for line in path.read_text().splitlines() if line.strip()]
    result = fastlog.parse_file(path)
    assert result.report.problems == []
    assert len(result.alerts) == len(nonblank) == 656
    igmp = result.alerts[result.alerts["proto"] == "IGMP"]
    assert len(igmp) == 34 and igmp["src_port"].isna().all()
    assert result.alerts["category"].isna().sum() == (
        sum("[Classification: (null)]" in line for line in nonblank)
    )
