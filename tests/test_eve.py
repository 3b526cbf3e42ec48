"""Tests of jupyter_sauce.eve: inline eve lines for every variant, real corpus logs."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from jupyter_sauce import eve, eve_arrow, fastlog
from jupyter_sauce.frames import ALERT_SCHEMA, FLOW_SCHEMA, ParseProblem

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SAUCE_CORPUS", REPO.parent / "shared" / "corpus"))
LOGS = CORPUS / "suricata-logs"
FIXTURES = Path(__file__).parent / "data" / "suricata7"

needs_corpus = pytest.mark.skipif(
    not LOGS.is_dir(), reason=f"corpus not found at {CORPUS} (set SAUCE_CORPUS)"
)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def row_dict(frame: pd.DataFrame, i: int = 0) -> dict:
    """Row i as a dict, every kind of missing value (None, pd.NA, NaT) as None."""
    return {k: (None if v is None or v is None or v is pd.NaT else v)
            for k, v in frame.iloc[i].to_dict().items()}  # fmt: skip


def only_alert(text: str) -> dict:
    result = eve.parse_text(text)
    assert result.report.problems == []
    assert len(result.alerts) == 1
    return row_dict(result.alerts)


def slow(data: bytes) -> eve.EveResult:
    """The per-line path on its own, to compare with the pyarrow path."""
    return eve._slow_parse(eve._split_lines([data]))


def assert_same_result(a: eve.EveResult, b: eve.EveResult) -> None:
    pd.testing.assert_frame_equal(a.alerts, b.alerts)
    pd.testing.assert_frame_equal(a.flows, b.flows)
    assert a.report == b.report
    assert a.event_counts == b.event_counts


ALERT = (
    '{"timestamp":"2024-03-01T12:00:00.123456+0200","flow_id":1234567890123,"event_type":"alert",'
    '"src_ip":"10.0.0.5","src_port":49152,"dest_ip":"93.184.216.34","dest_port":80,"proto":"TCP",'
    '"alert":{"action":"allowed","gid":1,"signature_id":2024364,"rev":5,'
    '"signature":"ET SCAN Possible Nmap User-Agent Observed","category":"Web Application Attack",'
    '"severity":1,"metadata":{"x":["y"]}},'
    '"http":{"hostname":"example.com","url":"/index.html","http_user_agent":"Mozilla/5.0 (Nmap)",'
    '"status":200},"app_proto":"http","flow":{"pkts_toserver":3,"pkts_toclient":2,'
    '"bytes_toserver":300,"bytes_toclient":200,"start":"2024-03-01T11:59:59.000000+0200"}}'
)


# ----------------------------------------------------------------------------- alerts


def test_alert_all_fields_and_offset_to_utc() -> None:
    row = only_alert(ALERT + "\n")
    assert row == {
        "timestamp": utc("2024-03-01T10:00:00.123456"),
        "signature": "ET SCAN Possible Nmap User-Agent Observed",
        "signature_id": 2024364,
        "rev": 5,
        "gid": 1,
        "category": "Web Application Attack",
        "severity": 1,
        "action": "allowed",
        "proto": "TCP",
        "app_proto": "http",
        "src_ip": "10.0.0.5",
        "src_port": 49152,
        "dest_ip": "93.184.216.34",
        "dest_port": 80,
        "flow_id": 1234567890123,
        "http_hostname": "example.com",
        "http_url": "/index.html",
        "http_user_agent": "Mozilla/5.0 (Nmap)",
        "tls_sni": None,
        "dns_query": None,
    }


def test_frames_have_exact_schema() -> None:
    result = eve.parse_text(ALERT + "\n" + FLOW + "\n")
    assert list(result.alerts.columns) == ALERT_SCHEMA.names
    assert list(result.flows.columns) == FLOW_SCHEMA.names
    assert [d.pyarrow_dtype for d in result.alerts.dtypes] == ALERT_SCHEMA.types
    assert [d.pyarrow_dtype for d in result.flows.dtypes] == FLOW_SCHEMA.types
    assert all(isinstance(d, pd.ArrowDtype) for d in result.alerts.dtypes)


def test_empty_input_gives_empty_frames_with_schema() -> None:
    for text in ("", "\n\n"):
        result = eve.parse_text(text)
        assert len(result.alerts) == 0 and len(result.flows) == 0
        assert list(result.alerts.columns) == ALERT_SCHEMA.names
        assert [d.pyarrow_dtype for d in result.flows.dtypes] == FLOW_SCHEMA.types
        assert result.report.problems == []
    assert eve.parse_text("\n\n").report.skipped_blank == 2


def test_minus_offset_to_utc() -> None:
    line = ALERT.replace("2024-03-01T12:00:00.123456+0200", "2024-12-17T19:17:54.565494-0500")
    assert only_alert(line)["timestamp"] == utc("2024-12-18T00:17:54.565494")


def test_ipv6_expanded_becomes_compressed() -> None:
    line = (
        '{"timestamp":"2024-12-17T19:19:38.518119-0500","flow_id":817931799461839,'
        '"event_type":"alert","src_ip":"fe80:0000:0000:0000:8810:3337:f1e3:ebc7","src_port":546,'
        '"dest_ip":"ff02:0000:0000:0000:0000:0000:0001:0002","dest_port":547,"proto":"UDP",'
        '"alert":{"action":"allowed","gid":1,"signature_id":100004,"rev":1,'
        '"signature":"UDP Packet Detected","category":"","severity":3},"app_proto":"failed"}'
    )
    row = only_alert(line)
    assert row["src_ip"] == "fe80::8810:3337:f1e3:ebc7"
    assert row["dest_ip"] == "ff02::1:2"
    assert (row["src_port"], row["dest_port"]) == (546, 547)
    assert row["category"] is None  # "" (no classtype) is null, like fast.log's (null)


def test_canonical_ip() -> None:
    assert eve.canonical_ip("2001:0db8:0000:0000:0000:0000:0000:0001") == "2001:db8::1"
    assert eve.canonical_ip("10.0.0.1") == "10.0.0.1"
    assert eve.canonical_ip("not-an-ip") == "not-an-ip"
    arr = pa.array(["fd00:0010:0000:0000:0000:0000:0000:0003", None, "1.2.3.4", "x:y"])
    assert eve.canonical_ip_array(arr).to_pylist() == ["fd00:10::3", None, "1.2.3.4", "x:y"]


def test_icmp_has_null_ports() -> None:
    line = (
        '{"timestamp":"2003-06-11T00:06:08.793044+0000","flow_id":28401778850794,'
        '"event_type":"alert","src_ip":"66.59.111.190","dest_ip":"172.28.2.3","proto":"ICMP",'
        '"icmp_type":8,"icmp_code":0,"alert":{"action":"allowed","gid":1,"signature_id":2100366,'
        '"rev":8,"signature":"GPL ICMP_INFO PING *NIX","category":"Misc activity","severity":3}}'
    )
    row = only_alert(line)
    assert row["proto"] == "ICMP"
    assert row["src_port"] is None and row["dest_port"] is None


def test_igmp_zero_ports_become_null() -> None:
    # Suricata 7.0.x before 7.0.10 printed "src_port":0 for IGMP; fast.log prints :0.
    line = (
        '{"timestamp":"2024-12-17T19:28:18.323654-0500","pcap_cnt":60,"event_type":"alert",'
        '"src_ip":"192.168.37.130","src_port":0,"dest_ip":"224.0.0.22","dest_port":0,'
        '"proto":"IGMP","alert":{"action":"allowed","gid":1,"signature_id":2200073,"rev":2,'
        '"signature":"SURICATA IPv4 invalid checksum",'
        '"category":"Generic Protocol Command Decode","severity":3}}'
    )
    row = only_alert(line)
    assert row["src_port"] is None and row["dest_port"] is None
    assert row["flow_id"] is None


def test_decoder_event_alert_without_addresses() -> None:
    line = (
        '{"timestamp":"2024-12-16T18:39:46.302630+0000","pcap_cnt":1,"event_type":"alert",'
        '"pkt_src":"wire/pcap","alert":{"action":"allowed","gid":1,"signature_id":2200003,'
        '"rev":2,"signature":"SURICATA IPv4 truncated packet",'
        '"category":"Generic Protocol Command Decode","severity":3}}'
    )
    row = only_alert(line)
    for name in ("src_ip", "dest_ip", "src_port", "dest_port", "proto", "flow_id", "app_proto"):
        assert row[name] is None, name
    assert row["signature_id"] == 2200003


def test_blocked_action_and_numeric_proto() -> None:
    line = ALERT.replace('"action":"allowed"', '"action":"blocked"').replace(
        '"proto":"TCP"', '"proto":"253"'
    )
    row = only_alert(line)
    assert row["action"] == "blocked"
    assert row["proto"] == "253"
    assert row["src_port"] is None  # no ports for protocols without ports


def _with_app(extra: str) -> str:
    return ALERT.replace(
        '"http":{"hostname":"example.com","url":"/index.html",'
        '"http_user_agent":"Mozilla/5.0 (Nmap)","status":200},',
        extra,
    )


@pytest.mark.parametrize(
    ("extra", "column", "value"),
    [
        ('"tls":{"sni":"evil.example","version":"TLS 1.2"},', "tls_sni", "evil.example"),
        # Suricata 7 alerts: dns.query is a list of queries
        (
            '"dns":{"version":2,"query":[{"type":"query","id":1,"rrname":"google.com",'
            '"rrtype":"A"}]},',
            "dns_query",
            "google.com",
        ),
        # eve v3 (Suricata 8): dns.queries
        (
            '"dns":{"version":3,"type":"request","id":1,"queries":[{"rrname":"v3.example",'
            '"rrtype":"A"}]},',
            "dns_query",
            "v3.example",
        ),
        # eve v2 dns record style: dns.rrname
        (
            '"dns":{"type":"query","id":1,"rrname":"old.example","rrtype":"A"},',
            "dns_query",
            "old.example",
        ),
        ('"dns":{"version":3,"queries":[]},', "dns_query", None),
    ],
)
def test_app_layer_context(extra: str, column: str, value: str | None) -> None:
    row = only_alert(_with_app(extra))
    assert row["http_hostname"] is None
    assert row[column] == value


def test_dns_formats_mixed_in_one_file() -> None:
    lines = [
        _with_app('"dns":{"query":[{"rrname":"a.example"}]},'),
        _with_app('"dns":{"queries":[{"rrname":"b.example"}]},'),
        _with_app('"dns":{"rrname":"c.example","answers":"not-a-list"},'),
        '{"timestamp":"2024-03-01T12:00:00+0000","event_type":"dns",'
        '"dns":{"version":2,"type":"answer","rrname":"d.example","answers":[{"rdata":1}]}}',
    ]
    result = eve.parse_text("\n".join(lines) + "\n")
    assert result.report.problems == []
    assert result.alerts["dns_query"].tolist() == ["a.example", "b.example", "c.example"]
    assert result.event_counts == {"alert": 3, "dns": 1}


def test_old_suricata2_format() -> None:
    # phucnb-2015 style: escaped slashes, pcap_cnt, flow without end, one without flow_id
    lines = [
        '{"timestamp":"2015-03-26T18:21:21.827414-0600","flow_id":975888015336547,"pcap_cnt":2238,'
        '"event_type":"alert","src_ip":"61.240.144.65","src_port":60000,"dest_ip":"192.168.0.2",'
        '"dest_port":80,"proto":"TCP","tx_id":0,"alert":{"action":"allowed","gid":1,'
        '"signature_id":2017616,"rev":4,"signature":"ET SCAN NETWORK Incoming Masscan detected",'
        '"category":"Detection of a Network Scan","severity":3},"http":{"url":"\\/",'
        '"http_user_agent":"masscan\\/1.0 (https:\\/\\/github.com\\/robertdavidgraham\\/masscan)",'
        '"http_content_type":"text\\/html","http_method":"GET","protocol":"HTTP\\/1.0",'
        '"status":200,"length":26},"app_proto":"http","flow":{"pkts_toserver":4,'
        '"pkts_toclient":4,"bytes_toserver":349,"bytes_toclient":828,'
        '"start":"2015-03-26T18:21:18.631907-0600"}}',
        '{"timestamp":"2015-03-26T18:00:38.783776-0600","pcap_cnt":60,"event_type":"alert",'
        '"src_ip":"192.168.0.54","src_port":17500,"dest_ip":"255.255.255.255","dest_port":17500,'
        '"proto":"UDP","alert":{"action":"allowed","gid":1,"signature_id":2012648,"rev":3,'
        '"signature":"ET POLICY Dropbox Client Broadcasting",'
        '"category":"Potential Corporate Privacy Violation","severity":1}}',
    ]
    result = eve.parse_text("\n".join(lines))
    assert result.report.problems == []
    a = result.alerts
    assert a["timestamp"].tolist() == [
        utc("2015-03-27T00:21:21.827414"),
        utc("2015-03-27T00:00:38.783776"),
    ]
    assert a["http_url"].iloc[0] == "/"
    assert (
        a["http_user_agent"].iloc[0] == "masscan/1.0 (https://github.com/robertdavidgraham/masscan)"
    )
    assert row_dict(a, 1)["flow_id"] is None
    assert row_dict(a, 1)["app_proto"] is None


# ------------------------------------------------------------------------------ flows

FLOW = (
    '{"timestamp":"2003-06-11T00:06:36.921473+0000","flow_id":717727593829555,"event_type":"flow",'
    '"src_ip":"66.59.111.190","src_port":40264,"dest_ip":"172.28.2.3","dest_port":22,'
    '"proto":"TCP","app_proto":"ssh","flow":{"pkts_toserver":12,"pkts_toclient":10,'
    '"bytes_toserver":1584,"bytes_toclient":2199,"start":"2003-06-11T00:06:18.756932+0000",'
    '"end":"2003-06-11T00:06:21.914834+0000","age":3,"state":"closed","reason":"shutdown",'
    '"alerted":false},"tcp":{"tcp_flags":"db","syn":true}}'
)


def test_flow_all_fields() -> None:
    result = eve.parse_text(FLOW + "\n")
    assert result.report.problems == []
    assert row_dict(result.flows) == {
        "flow_id": 717727593829555,
        "src_ip": "66.59.111.190",
        "src_port": 40264,
        "dest_ip": "172.28.2.3",
        "dest_port": 22,
        "proto": "TCP",
        "app_proto": "ssh",
        "pkts_toserver": 12,
        "pkts_toclient": 10,
        "bytes_toserver": 1584,
        "bytes_toclient": 2199,
        "start": utc("2003-06-11T00:06:18.756932"),
        "end": utc("2003-06-11T00:06:21.914834"),
        "state": "closed",
        "alerted": False,
    }


def test_icmpv6_flow() -> None:
    line = (
        '{"timestamp":"2012-01-23T20:02:30.374920+0000","flow_id":889787287712235,'
        '"event_type":"flow","src_ip":"2620:0000:0e00:400e:0d1d:db37:0beb:5aac",'
        '"dest_ip":"2001:4860:8006:0000:0000:0000:0000:0063","proto":"IPv6-ICMP",'
        '"icmp_type":128,"icmp_code":0,"response_icmp_type":129,"response_icmp_code":0,'
        '"flow":{"pkts_toserver":4,"pkts_toclient":4,"bytes_toserver":376,"bytes_toclient":376,'
        '"start":"2012-01-23T20:02:27.338241+0000","end":"2012-01-23T20:02:30.374920+0000",'
        '"age":3,"state":"established","reason":"shutdown","alerted":true}}'
    )
    row = row_dict(eve.parse_text(line).flows)
    assert row["src_ip"] == "2620:0:e00:400e:d1d:db37:beb:5aac"
    assert row["dest_ip"] == "2001:4860:8006::63"
    assert row["src_port"] is None
    assert row["alerted"] is True


# --------------------------------------------------------------------------- problems


def test_problems_are_reported_never_dropped_never_fatal() -> None:
    lines = [
        ALERT,  # 1 ok
        "",  # 2 blank
        "this is not json",  # 3
        "[1, 2, 3]",  # 4 not an object
        '{"timestamp":"2024-03-01T12:00:00+0000"}',  # 5 no event_type
        '{"timestamp":"2024-03-01T12:00:00+0000","event_type":"alert","alert":{"gid":1}}',  # 6
        ALERT.replace('"src_port":49152', '"src_port":"49152"'),  # 7 wrong type
        ALERT.replace("2024-03-01T12:00:00.123456+0200", "yesterday"),  # 8 bad timestamp
        '{"timestamp":"2024-03-01T12:00:00+0000","event_type":"flow","flow_id":1}',  # 9 no flow
        '{"timestamp":"2024-03-01T12:00:00+0000","event_type":"stats","stats":{"uptime":1}}',  # 10
        '{"timestamp":"2024-03-01T12:00:00+0000","event_type":"anomaly","anomaly":{}}',  # 11
        "   ",  # 12 blank
        FLOW,  # 13 ok
        ALERT[:150],  # 14 truncated last line
    ]
    text = "\n".join(lines)
    result = eve.parse_text(text)
    report = result.report
    assert [p.line_no for p in report.problems] == [3, 4, 5, 6, 7, 8, 9, 14]
    reasons = {p.line_no: p.reason for p in report.problems}
    assert reasons[3].startswith("invalid JSON")
    assert reasons[4] == "not a JSON object (list)"
    assert reasons[5] == "no event_type string"
    assert reasons[6] == "alert event: missing alert.signature_id"
    assert reasons[7].startswith("alert event: src_port: expected an integer")
    assert reasons[8].startswith("timestamp: not an ISO 8601 timestamp")
    assert reasons[9] == "flow event: flow event without a flow object"
    assert reasons[14].startswith("truncated last line")
    assert report.problems[0] == ParseProblem(3, reasons[3], "this is not json")
    assert report.problems[-1].text == ALERT[:150]
    assert len(result.alerts) == 1 and len(result.flows) == 1
    assert result.event_counts == {"alert": 1, "flow": 1, "stats": 1, "anomaly": 1}
    assert report.lines == 14
    assert report.skipped_blank == 2
    assert report.records == 4
    assert report.lines == report.records + report.skipped_blank + report.bad_lines


def test_problem_text_is_cut_to_200_chars() -> None:
    result = eve.parse_text("x" * 1000 + "\n")
    assert result.report.problems[0].text == "x" * 200


def test_truncated_last_line_of_a_file_keeps_fast_path(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    path.write_text(ALERT + "\n" + FLOW + "\n" + ALERT[:-40])
    result = eve.parse_file(path)
    assert len(result.alerts) == 1 and len(result.flows) == 1
    assert [p.line_no for p in result.report.problems] == [3]
    assert result.report.problems[0].reason.startswith("truncated last line")
    assert result.report.lines == 3 and result.report.records == 2
    assert_same_result(result, slow(path.read_bytes()))


def test_last_line_without_newline_is_fine() -> None:
    result = eve.parse_text(ALERT + "\n" + FLOW)
    assert result.report.problems == []
    assert result.report.lines == 2 and len(result.flows) == 1


def test_crlf_and_blank_lines() -> None:
    text = "\r\n" + ALERT + "\r\n\r\n" + FLOW + "\r\n  \r\n"
    result = eve.parse_text(text)
    assert result.report.problems == []
    assert result.report.lines == 5 and result.report.skipped_blank == 3
    assert len(result.alerts) == 1 and len(result.flows) == 1


def test_two_objects_on_one_line_is_a_problem() -> None:
    result = eve.parse_text(ALERT + " " + FLOW + "\n" + FLOW + "\n")
    assert [p.line_no for p in result.report.problems] == [1]
    assert len(result.alerts) == 0 and len(result.flows) == 1


def test_type_conflict_in_unneeded_field_is_not_a_problem() -> None:
    a = ALERT.replace('"metadata":{"x":["y"]}', '"metadata":"text"')
    result = eve.parse_text(ALERT + "\n" + a + "\n")
    assert result.report.problems == [] and len(result.alerts) == 2


@pytest.mark.parametrize(
    "text",
    [
        ALERT + "\n" + FLOW + "\n",
        ALERT + "\n\n" + FLOW,
        ALERT + "\nnot json\n" + FLOW + "\n",
        ALERT + "\n" + ALERT[:100],
    ],
)
def test_fast_and_slow_paths_agree_inline(text: str) -> None:
    assert_same_result(eve.parse_text(text), slow(text.encode()))


def test_parse_file_equals_parse_text(tmp_path: Path) -> None:
    text = ALERT + "\n" + FLOW + "\nbroken\n"
    path = tmp_path / "eve.json"
    path.write_text(text)
    assert_same_result(eve.parse_file(path), eve.parse_text(text))


# ---------------------------------------------------------------- real Suricata output


def _count_events(path: Path) -> dict[str, int]:
    """Count event types independently of the parser: json.loads per line."""
    counts: dict[str, int] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            et = json.loads(line)["event_type"]
            counts[et] = counts.get(et, 0) + 1
    return counts


FIXTURE_DIRS = sorted(p for p in FIXTURES.iterdir() if p.is_dir()) if FIXTURES.is_dir() else []


@pytest.mark.parametrize("fixture", FIXTURE_DIRS, ids=lambda p: p.name)
def test_suricata7_fixtures_eve(fixture: Path) -> None:
    path = fixture / "eve.json"
    result = eve.parse_file(path)
    counts = _count_events(path)
    assert result.report.problems == []
    assert result.event_counts == counts
    assert len(result.alerts) == counts.get("alert", 0)
    assert len(result.flows) == counts.get("flow", 0)
    assert_same_result(result, slow(path.read_bytes()))


# The columns fast.log has (everything but flow_id, app_proto and app-layer context).
FAST_COLUMNS = [
    "timestamp", "signature", "signature_id", "rev", "gid", "category", "severity", "action",
    "proto", "src_ip", "src_port", "dest_ip", "dest_port",
]  # fmt: skip


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[FAST_COLUMNS].sort_values(FAST_COLUMNS).reset_index(drop=True)


@pytest.mark.parametrize("fixture", FIXTURE_DIRS, ids=lambda p: p.name)
def test_suricata7_fixtures_eve_and_fast_agree(fixture: Path) -> None:
    e = eve.parse_file(fixture / "eve.json").alerts
    f_result = fastlog.parse_file(fixture / "fast.log")  # these runs used TZ=UTC
    assert f_result.report.problems == []
    f = f_result.alerts
    if fixture.name == "icmp_ssh_ids":
        # A reject rule in IDS mode: eve says "blocked" (Suricata does send the reset), but
        # fast.log prints the same [wDrop] as for a drop rule, whose eve action is "allowed".
        reject = e["signature_id"] == 9000003
        assert set(e.loc[reject, "action"]) == {"blocked"}
        assert set(f.loc[f["signature_id"] == 9000003, "action"]) == {"allowed"}
        e = e.assign(action=e["action"].where(~reject, "allowed"))
    pd.testing.assert_frame_equal(_sorted(e), _sorted(f))


def test_suricata7_fixture_details() -> None:
    if not FIXTURES.is_dir():
        pytest.skip("tests/data/suricata7 missing")
    ftp = eve.parse_file(FIXTURES / "ipv6_ftp" / "eve.json").alerts
    assert set(ftp["src_ip"]) | set(ftp["dest_ip"]) == {"fd00:10:16:1::2", "fd00:10:16:1::3"}
    trunc = eve.parse_file(FIXTURES / "ipv4_truncated" / "eve.json").alerts
    assert trunc["src_ip"].isna().all() and trunc["proto"].isna().all()
    p253 = eve.parse_file(FIXTURES / "proto253_igmp" / "eve.json").alerts
    assert p253["proto"].tolist() == ["253", "IGMP"]
    dns = eve.parse_file(FIXTURES / "dns_query" / "eve.json").alerts
    assert dns["dns_query"].tolist() == ["google.com"] * 3
    http = eve.parse_file(FIXTURES / "http_testmyids" / "eve.json").alerts
    assert set(http["http_hostname"]) == {"testmyids.com"}
    ips = eve.parse_file(FIXTURES / "icmp_ssh_ips" / "eve.json").alerts
    assert set(ips.loc[ips["signature_id"] == 9000002, "action"]) == {"blocked"}


CORPUS_EVE = ["menna-zeus-lab/eve.json", "phucnb-2015/eve.json", "kvnlxu-securityonion/eve.json",
              "kvnlxu-securityonion/eve-2025-11-03-0022.json"]  # fmt: skip


@needs_corpus
@pytest.mark.parametrize("name", CORPUS_EVE)
def test_corpus_eve_loses_no_line(name: str) -> None:
    path = LOGS / name
    counts = _count_events(path)
    result = eve.parse_file(path)
    assert result.report.problems == []
    assert len(result.alerts) == counts["alert"]
    assert len(result.flows) == counts.get("flow", 0)
    assert result.event_counts == counts
    assert result.report.lines == sum(counts.values())
    assert result.alerts["timestamp"].notna().all()
    assert_same_result(result, slow(path.read_bytes()))


@needs_corpus
def test_corpus_menna_eve_and_fast_agree_row_for_row() -> None:
    """menna-zeus-lab: the fast.log and eve.json of the same Suricata run.

    They hold the same 656 alerts. fast.log timestamps are the sensor's local time, which
    eve.json shows as the offset -0500 on every event; read as UTC they would all be 5 h
    early, so fast.log is parsed with tz="-05:00". eve additionally holds 205 flows, 6
    dhcp, 1 dns and 1 stats event that fast.log never has. The 34 IGMP alerts have
    ports 0 in both logs (null in both frames) and no flow_id in eve.
    """
    key = ["timestamp", "signature_id", "src_ip", "src_port", "dest_ip", "dest_port", "proto"]
    e = eve.parse_file(LOGS / "menna-zeus-lab" / "eve.json")
    f = fastlog.parse_file(LOGS / "menna-zeus-lab" / "fast.log", tz="-05:00")
    assert f.report.problems == [] and e.report.problems == []
    assert len(e.alerts) == len(f.alerts) == 656
    sort = lambda frame: frame[key].sort_values(key).reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(sort(e.alerts), sort(f.alerts))
    # ... and on every other column fast.log has.
    pd.testing.assert_frame_equal(_sorted(e.alerts), _sorted(f.alerts))
    assert (e.alerts["proto"] == "IGMP").sum() == 34
    assert e.alerts.loc[e.alerts["proto"] == "IGMP", "src_port"].isna().all()
    assert e.event_counts == {"alert": 656, "flow": 205, "dhcp": 6, "dns": 1, "stats": 1}
    # IPv6 written the same (compressed) way by both parsers
    assert "fe80::8810:3337:f1e3:ebc7" in set(f.alerts["src_ip"])
    # read as UTC, every fast.log timestamp is exactly 5 hours behind eve's
    naive = fastlog.parse_file(LOGS / "menna-zeus-lab" / "fast.log").alerts
    shift = (f.alerts["timestamp"] - naive["timestamp"]).unique()
    assert list(shift) == [pd.Timedelta(hours=5)]


@pytest.mark.parametrize("chunk", [4096, 1 << 20])
def test_chunked_fast_path_equals_slow_path(tmp_path: Path, chunk: int) -> None:
    """Chunk boundaries, blank/CRLF/whitespace lines and a truncated last line."""
    lines = []
    for i in range(60):
        lines += [ALERT, FLOW, ""] if i % 7 else [ALERT + "\r", "  ", FLOW, "\r"]
    data = ("\n".join(lines) + "\n" + ALERT[:-40]).encode()
    path = tmp_path / "eve.json"
    path.write_bytes(data)
    orig = eve_arrow.CHUNK_BYTES
    eve_arrow.CHUNK_BYTES = chunk
    try:
        with open(path, "rb") as fh:  # the fast path itself, without its fallback
            fast = eve._fast_parse(fh, len(data), data[-eve._TAIL_BYTES :])
        assert_same_result(fast, slow(data))
        assert_same_result(eve.parse_file(path), fast)
    finally:
        eve_arrow.CHUNK_BYTES = orig
    assert fast.report.skipped_blank > 0 and len(fast.report.problems) == 1
    assert len(fast.alerts) == len(fast.flows) == 60


@needs_corpus
@pytest.mark.parametrize("name", CORPUS_EVE)
def test_corpus_chunked_fast_path_equals_slow_path(name: str) -> None:
    data = (LOGS / name).read_bytes()
    orig = eve_arrow.CHUNK_BYTES
    eve_arrow.CHUNK_BYTES = 64 << 10  # many chunks
    try:
        fast = eve._fast_parse(io.BytesIO(data), len(data), data[-eve._TAIL_BYTES :])
    finally:
        eve_arrow.CHUNK_BYTES = orig
    assert_same_result(fast, slow(data))
