"""VT v3 IP reports: validation, summary, links, import/export of report files."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cli_run import cli
from vtserver import VT_CORPUS

from jupyter_sauce.config import VirusTotalConfig
from jupyter_sauce.errors import InputError, ReportError
from jupyter_sauce.virustotal import (
    Enricher,
    canonical_ip,
    file_name,
    gui_link,
    non_global_reason,
    read_report_file,
    summarize,
    validate_report,
)
from jupyter_sauce.virustotal.ipscope import parse_ip

needs_vt_corpus = pytest.mark.skipif(
    not VT_CORPUS.is_dir(), reason=f"VirusTotal corpus not found at {VT_CORPUS} (set SAUCE_CORPUS)"
)


def report(ip: str = "8.8.8.8", **attributes: object) -> dict:
    return {"data": {"type": "ip_address", "id": ip, "attributes": dict(attributes)}}


def test_links_use_canonical_compressed_ipv6() -> None:
    assert gui_link("2001:4860:4860:0:0:0:0:8888") == (
        "https://www.virustotal.com/gui/ip-address/2001:4860:4860::8888"
    )
    assert gui_link(" 8.8.8.8 ") == "https://www.virustotal.com/gui/ip-address/8.8.8.8"
    assert canonical_ip("2001:DB8::1") == "2001:db8::1"
    assert file_name("2001:db8::1") == "2001-db8--1.json"


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("10.42.85.10", "private address"),
        ("127.0.0.1", "loopback address"),
        ("169.254.1.1", "link-local address"),
        ("224.0.0.251", "multicast address"),
        ("ff02::1", "multicast address"),
        ("0.0.0.0", "unspecified address"),
        ("192.0.2.1", "documentation address"),  # jupyter_sauce.addresses class
        ("fe80::1", "link-local address"),
        ("194.61.24.102", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_non_global_reason(ip: str, reason: str | None) -> None:
    assert non_global_reason(parse_ip(ip)) == reason


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "JSON list"),
        ({"error": {"code": "NotFoundError"}}, 'no "data" object'),
        ({"data": {"type": "file", "id": "x", "attributes": {}}}, "data.type is 'file'"),
        ({"data": {"type": "ip_address", "id": "999.999.999.999", "attributes": {}}}, "999"),
        ({"data": {"type": "ip_address", "id": 7, "attributes": {}}}, "data.id is 7"),
        ({"data": {"type": "ip_address", "id": "8.8.8.8"}}, "data.attributes"),
    ],
)
def test_invalid_reports_name_the_origin_in_one_sentence(body: object, fragment: str) -> None:
    with pytest.raises(ReportError) as info:
        validate_report(body, "bad.json")
    message = str(info.value)
    assert message.startswith("bad.json is not a VirusTotal v3 IP report: ")
    assert fragment in message
    assert message.endswith(".") and message.count(". ") == 0


def test_summary_of_a_minimal_report_and_dates_in_utc() -> None:
    body = report(
        reputation=-3,
        last_analysis_stats={"malicious": 2, "harmless": 1},
        last_analysis_date=1700000000,
        asn=13335,
        as_owner="CLOUDFLARENET",
    )
    summary = summarize(body)
    assert summary["malicious"] == 2 and summary["suspicious"] is None
    assert summary["reputation"] == -3 and summary["asn"] == 13335
    assert summary["last_analysis_date"] == datetime.fromtimestamp(1700000000, tz=timezone.utc)
    assert summarize(report())["malicious"] is None


@needs_vt_corpus
def test_corpus_reports_validate_and_summarize() -> None:
    ip, body = read_report_file(VT_CORPUS / "ip_138.128.150.133_opencti.json")
    assert ip == "138.128.150.133"
    summary = summarize(body)
    assert (summary["malicious"], summary["harmless"], summary["asn"]) == (4, 77, 13886)
    assert (summary["as_owner"], summary["country"]) == ("CLOUD-SOUTH", "GB")
    assert summary["last_analysis_date"] is None  # this real report has no such attribute
    for name in ("ip_8.8.8.8_gti_redacted_demisto.json", "ip_8.8.8.8_minimal_menagos.json"):
        assert read_report_file(VT_CORPUS / name)[0] == "8.8.8.8"
    with pytest.raises(ReportError, match="error_NotFoundError"):
        read_report_file(VT_CORPUS / "error_NotFoundError_ip_deploymenttheory.json")


def test_not_json_is_a_report_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ReportError, match="broken.json is not a VirusTotal v3 IP report: it is"):
        read_report_file(bad)


def test_import_validates_everything_first_then_export_round_trips(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.json").write_text(json.dumps(report("8.8.8.8", reputation=5)), encoding="utf-8")
    (source / "b.json").write_text(json.dumps(report("2001:DB8:0::1")), encoding="utf-8")
    (source / "z_bad.json").write_text(json.dumps({"data": {"type": "url"}}), encoding="utf-8")
    with Enricher(VirusTotalConfig(api_key=""), tmp_path / "cache") as enricher:
        with pytest.raises(ReportError, match="z_bad.json"):
            enricher.import_reports(source / "z_bad.json")  # one file: all or nothing
        assert not (tmp_path / "cache" / "reports").exists()  # nothing half-imported
        loaded = enricher.import_reports(source)  # a folder: the valid ones, the rest named
        assert sorted(loaded.reports) == ["2001:db8::1", "8.8.8.8"]
        assert len(loaded.skipped) == 1 and "z_bad.json" in loaded.skipped[0]
        (source / "z_bad.json").unlink()
        assert len(enricher.import_reports(source / "a.json").reports) == 1
        result = enricher.enrich(["8.8.8.8", "2001:db8:0:0::1"])
        # 2001:db8::/32 is documentation space: skipped even though a report exists
        assert list(result.frame["source"]) == ["offline", "skipped"]
        assert result.frame["reputation"].iloc[0] == 5
        exported = enricher.export_reports(tmp_path / "out")
        assert (exported.written, exported.kept, exported.notice) == (2, [], None)
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
            "2001-db8--1.json",
            "8.8.8.8.json",
        ]
        with pytest.raises(InputError, match="is a file"):
            enricher.export_reports(source / "a.json")
        with pytest.raises(ReportError, match="does not exist"):
            enricher.import_reports(tmp_path / "missing")


def test_offline_dir_with_foreign_file_names_and_bad_files(tmp_path: Path) -> None:
    offline = tmp_path / "shared-reports"
    offline.mkdir()
    (offline / "whatever-name.json").write_text(
        json.dumps(report("194.61.24.102", last_analysis_stats={"malicious": 9})), encoding="utf-8"
    )
    (offline / "junk.json").write_text("[]", encoding="utf-8")
    config = VirusTotalConfig(api_key="", reports_dir=str(offline))
    with Enricher(config, tmp_path / "cache") as enricher:
        result = enricher.enrich(["194.61.24.102", "1.1.1.1"])
    frame = result.frame
    assert list(frame["source"]) == ["offline", "none"]
    assert frame["malicious"].iloc[0] == 9
    assert "No VirusTotal API key: offline reports only." in result.notices
    assert any("junk.json" in n for n in result.notices)
    assert result.mode == "offline" and result.requests_made == 0


def test_import_of_an_export_folder_keeps_the_newest_report_per_address(tmp_path: Path) -> None:
    """Bug: a folder holding a VirusTotal error answer imported nothing, and two reports of
    one address were counted twice with the older one possibly winning."""
    source = tmp_path / "exports"
    source.mkdir()
    old = report("8.8.8.8", reputation=1)
    old["data"]["attributes"]["last_analysis_date"] = 1_600_000_000
    new = report("8.8.8.8", reputation=9)
    new["data"]["attributes"]["last_analysis_date"] = 1_700_000_000
    (source / "a-new.json").write_text(json.dumps(new))
    (source / "b-old.json").write_text(json.dumps(old))
    (source / "error.json").write_text(json.dumps({"error": {"code": "NotFoundError"}}))
    with Enricher(VirusTotalConfig(api_key=""), tmp_path / "cache") as enricher:
        loaded = enricher.import_reports(source)
        assert list(loaded.reports) == ["8.8.8.8"]
        assert loaded.replaced == ["2 files for 8.8.8.8: kept a-new.json (newest analysis)."]
        assert "error.json" in loaded.skipped[0] and "NotFoundError" in loaded.skipped[0]
        assert enricher.enrich(["8.8.8.8"]).frame["reputation"].iloc[0] == 9
    (source / "a-new.json").unlink()
    (source / "b-old.json").unlink()
    with (
        Enricher(VirusTotalConfig(api_key=""), tmp_path / "c2") as enricher,
        pytest.raises(ReportError, match="holds no valid VirusTotal v3 IP report"),
    ):
        enricher.import_reports(source)


def test_deeply_nested_json_is_a_skipped_file_not_a_crash(tmp_path: Path) -> None:
    """Bug: one file '[' * 100000 + ']' * 100000 in the reports dir made json.loads raise
    RecursionError: every enrichment failed ("unexpected RecursionError") and
    `reports import DIR` aborted instead of listing the file as skipped."""
    reports = tmp_path / "reports"
    reports.mkdir()
    deep = reports / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000, encoding="utf-8")
    (reports / "good.json").write_text(json.dumps(report("8.8.8.8", reputation=7)))
    problem = f"{deep} is not a VirusTotal v3 IP report: its JSON is nested too deeply to read."
    with pytest.raises(ReportError) as info:
        read_report_file(deep)
    assert info.value.message == problem
    config = VirusTotalConfig(api_key="", reports_dir=str(reports))
    with Enricher(config, tmp_path / "cache") as enricher:
        result = enricher.enrich(["8.8.8.8", "1.1.1.1"])
        assert list(result.frame["source"]) == ["offline", "none"]
        assert result.frame["reputation"].iloc[0] == 7
        assert result.notices[-1] == f"Ignored {deep}: {problem.rstrip('.')}."
    with Enricher(VirusTotalConfig(api_key=""), tmp_path / "other") as enricher:
        loaded = enricher.import_reports(reports)
        assert (list(loaded.reports), loaded.skipped) == (["8.8.8.8"], [problem])
        with pytest.raises(ReportError) as info:
            enricher.import_reports(deep)  # one file: all or nothing, one sentence
        assert info.value.message == problem


def test_reports_nested_too_deep_to_write_back_are_refused(tmp_path: Path) -> None:
    """JSON that parses but nests past MAX_REPORT_DEPTH is no IP report either: saving or
    exporting it again could hit the same recursion limit."""
    body = report("8.8.8.8")
    nested: dict = body["data"]["attributes"]
    for _ in range(120):
        nested["x"] = {}
        nested = nested["x"]
    with pytest.raises(ReportError) as info:
        validate_report(body, "deep.json")
    assert info.value.message == (
        "deep.json is not a VirusTotal v3 IP report: it is nested more than 100 levels deep."
    )
    assert validate_report(report("8.8.8.8", tags={"a": [[{"b": 1}]]}), "ok.json") == "8.8.8.8"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "it is not JSON (line 1, column 2)."),
        (b'{"data":\n  oops}', "it is not JSON (line 2, column 3)."),
        (b'{"as_owner": "\x80"}', "it is not UTF-8 text."),
        (b"1" * 5000, "it holds a number too long to read."),
    ],
)
def test_not_json_is_one_sentence_without_the_parser_text(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    """The message held json's own text, e.g. "(Expecting property name enclosed in double
    quotes: line 1 column 2 (char 1))"; a 5000-digit number raised a bare ValueError text."""
    bad = tmp_path / "broken.json"
    bad.write_bytes(content)
    with pytest.raises(ReportError) as info:
        read_report_file(bad)
    assert info.value.message == f"{bad} is not a VirusTotal v3 IP report: {reason}"


def write_reports(folder: Path, **bodies: dict) -> None:
    """``name=body`` -> ``folder/name.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in bodies.items():
        (folder / f"{name}.json").write_text(json.dumps(body), encoding="utf-8")


def test_import_of_several_reports_for_one_address_says_which_file_was_kept(
    tmp_path: Path,
) -> None:
    """Bug: 3 valid files, two of them for 8.8.8.8 without an analysis date, gave
    "Imported 2" and kept the first, a.json, "the most recent" though neither was."""
    undated = tmp_path / "undated"
    write_reports(
        undated,
        a=report("8.8.8.8", reputation=1),
        b=report("8.8.8.8", reputation=2),
        c=report("1.1.1.1", reputation=3),
    )
    dated = tmp_path / "dated"
    write_reports(
        dated,
        a=report("8.8.8.8", reputation=1, last_analysis_date=1_700_000_000),
        b=report("8.8.8.8", reputation=2, last_analysis_date=1_600_000_000),
        c=report("8.8.8.8", reputation=3),
    )
    with Enricher(VirusTotalConfig(api_key=""), tmp_path / "cache") as enricher:
        loaded = enricher.import_reports(undated)
        assert sorted(loaded.reports) == ["1.1.1.1", "8.8.8.8"]
        assert loaded.reports["8.8.8.8"]["data"]["attributes"]["reputation"] == 2
        assert loaded.replaced == [
            "2 files for 8.8.8.8: kept b.json (the last given, none has a newer analysis date)."
        ]
        loaded = enricher.import_reports(dated)
        assert loaded.reports["8.8.8.8"]["data"]["attributes"]["reputation"] == 1
        assert loaded.replaced == ["3 files for 8.8.8.8: kept a.json (newest analysis)."]
        assert enricher.enrich(["8.8.8.8"]).frame["reputation"].iloc[0] == 1
    r = cli(tmp_path, "reports", "import", str(undated))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Imported 2 VirusTotal report(s).\n"
    assert (
        "jupyter sauce: note: 2 files for 8.8.8.8: kept b.json "
        "(the last given, none has a newer analysis date).\n"
    ) in r.stderr


def test_export_never_replaces_an_existing_file_that_differs(tmp_path: Path) -> None:
    """Bug: `reports export DIR` silently overwrote a user's edited DIR/8.8.8.8.json."""
    source = tmp_path / "in"
    write_reports(
        source,
        a=report("8.8.8.8", reputation=5),
        b=report("1.1.1.1", reputation=6),
        c=report("194.61.24.102", reputation=7),
    )
    out = tmp_path / "out"
    out.mkdir()
    edited = b'{"my": "notes on 8.8.8.8, edited by hand"}\n'
    (out / "8.8.8.8.json").write_bytes(edited)
    same = json.dumps(report("1.1.1.1", reputation=6)).encode()
    (out / "1.1.1.1.json").write_bytes(same)  # the same report: nothing to keep or lose
    with Enricher(VirusTotalConfig(api_key=""), tmp_path / "cache") as enricher:
        enricher.import_reports(source)
        exported = enricher.export_reports(out)
        assert (exported.written, exported.kept) == (2, ["8.8.8.8.json"])
        assert exported.notice == (
            f"Kept 1 existing file in {out} unchanged because it differs from the report "
            "to export: 8.8.8.8.json (move it away to export that report)."
        )
    assert (out / "8.8.8.8.json").read_bytes() == edited
    assert (out / "1.1.1.1.json").read_bytes() == same
    assert read_report_file(out / "194.61.24.102.json")[1] == report("194.61.24.102", reputation=7)
    assert sorted(p.name for p in out.iterdir()) == [
        "1.1.1.1.json",
        "194.61.24.102.json",
        "8.8.8.8.json",
    ]  # no temporary file left behind

    r = cli(tmp_path, "reports", "import", str(source))
    assert r.returncode == 0, r.stderr
    again = tmp_path / "again"
    write_reports(again, **{"8.8.8.8": report("8.8.8.8", reputation=0), "1.1.1.1": {}})
    r = cli(tmp_path, "reports", "export", str(again))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"Exported 1 VirusTotal report(s) to {again}.\n"
    assert (
        f"jupyter sauce: note: Kept 2 existing files in {again} unchanged because they "
        "differ from the reports to export, the first 1.1.1.1.json (move them away to "
        "export those reports)."
    ) in r.stderr.splitlines()
    assert json.loads((again / "1.1.1.1.json").read_text()) == {}
    assert read_report_file(again / "8.8.8.8.json")[1] == report("8.8.8.8", reputation=0)
