"""The command line, run as a user would (a subprocess): output, formats, exit codes, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from captures import demo, http_records, pcap_bytes, pcapng_bytes, write
from cli_run import cli
from conftest import ET_OPEN, PCAPS, needs_corpus

pytestmark = pytest.mark.skipif(shutil.which("suricata") is None, reason="suricata is not on PATH")


def test_demo_command(tmp_path: Path) -> None:
    r = cli(tmp_path, "demo", "--path", str(tmp_path / "d" / "demo.pcap"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "SAUCE SCAN Nmap Scripting Engine or Nmap User-Agent 194.61.24.102    10.42.85.10" in out
    assert "https://www.virustotal.com/gui/ip-address/194.61.24.102" in out
    assert "https://www.virustotal.com/gui/ip-address/203.78.103.109" in out
    assert "No VirusTotal API key: offline reports only." in out
    assert "HOME_NET: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16" in out


def test_json_format_filters_and_out(tmp_path: Path) -> None:
    cap = demo(tmp_path / "demo.pcap")
    r = cli(
        tmp_path,
        "analyze",
        str(cap),
        "--rules",
        "starter",
        "--format",
        "json",
        "--no-vt",
        "--exclude-dst",
        "203.78.103.0/24",
        "--out",
        str(tmp_path / "out"),
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)[0]
    assert doc["counts"] == {"alerts": 5, "shown": 4}
    assert {g["signature_id"] for g in doc["alert_groups"]} == {9000001, 9000002, 9000003}
    ips = {i["ip"]: i for i in doc["iocs"]}
    assert set(ips) == {"194.61.24.102", "10.42.85.10"}
    assert ips["194.61.24.102"]["link"] == "https://www.virustotal.com/gui/ip-address/194.61.24.102"
    assert ips["10.42.85.10"]["link"] is None  # private: no VirusTotal page
    alerts = pd.read_parquet(tmp_path / "out" / "demo" / "alerts.parquet")
    assert len(alerts) == 4
    assert len(pd.read_csv(tmp_path / "out" / "demo" / "iocs.csv")) == 2
    assert (tmp_path / "out" / "demo" / "flows.parquet").is_file()


def test_csv_format(tmp_path: Path) -> None:
    cap = demo(tmp_path / "demo.pcap")
    r = cli(tmp_path, "analyze", str(cap), "--rules", "starter", "--format", "csv", "--no-vt")
    assert r.returncode == 0, r.stderr
    # the capture as given (two captures of one name in a call stay apart)
    assert r.stdout.startswith(f"# alerts {cap}\nsignature_id,signature,src_ip,dest_ip,count")
    assert f"# iocs {cap}\nip,ip_class" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "{tmp}"], "is a directory, not a capture file"),
        (["analyze", "{tmp}/missing.pcap"], "does not exist"),
        (["analyze", "{tmp}/notes.pcap"], "it looks like a text file"),
        (
            ["analyze", "{tmp}/demo.pcap", "--exclude-src", "10.0.0.0/33"],
            "'10.0.0.0/33' is not a valid",
        ),
        (["analyze", "{tmp}/demo.pcap", "--home-net", "10.1.2"], "'10.1.2'"),
        (["analyze", "{tmp}/demo.pcap", "--rules", "{tmp}/none"], "does not exist"),
        (["reports", "import", "{tmp}/notes.pcap"], "notes.pcap"),
    ],
)
def test_bad_input_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    demo(tmp_path / "demo.pcap")
    write(tmp_path / "notes.pcap", b"just notes\n")
    r = cli(tmp_path, *[a.format(tmp=tmp_path) for a in args])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3


def test_unwritable_store_exit_2(tmp_path: Path) -> None:
    write(tmp_path / "store", b"a file where the store should be")
    cap = demo(tmp_path / "demo.pcap")
    r = cli(tmp_path, "analyze", str(cap), "--rules", "starter", "--no-vt")
    assert r.returncode == 2 and "is not writable" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_unreadable_capture_exit_2(tmp_path: Path) -> None:
    cap = demo(tmp_path / "demo.pcap")
    cap.chmod(0o600)
    tmp_path.chmod(0o755)
    r = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-c",
            "import sys; from jupyter_sauce.cli import main;"
            f"sys.exit(main(['--store', '/tmp/sauce-nobody-store', 'analyze', {str(cap)!r}]))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert "cannot be read (permission denied)" in r.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    for args in (("--debug", "analyze", str(tmp_path / "missing.pcap")),
                 ("analyze", str(tmp_path / "missing.pcap"), "--debug")):  # fmt: skip
        r = cli(tmp_path, *args)
        assert r.returncode == 2 and "Traceback" in r.stderr  # the exit code is kept
        assert r.stderr.splitlines()[-1].endswith("missing.pcap' does not exist.")


def test_missing_suricata_says_how_to_install(tmp_path: Path) -> None:
    (tmp_path / "jcfg").mkdir()
    (tmp_path / "jcfg" / "jupyter_sauce_config.json").write_text(
        json.dumps({"SuricataConfig": {"suricata_path": "/nonexistent/suricata"}})
    )
    r = cli(tmp_path, "analyze", str(demo(tmp_path / "demo.pcap")), "--no-vt")
    assert r.returncode == 1
    assert (
        "Suricata is not installed at '/nonexistent/suricata' (SuricataConfig.suricata_path)"
        in (r.stderr)
    )
    assert "bookworm-backports" in r.stderr
    assert "scripts/setup.sh" in r.stderr  # a command that exists in this checkout
    assert (Path(__file__).resolve().parents[1] / "scripts" / "setup.sh").is_file()


def test_rules_update_offline_with_local_rules(tmp_path: Path) -> None:
    if shutil.which("suricata-update") is None:
        pytest.skip("suricata-update is not installed")
    rules = write(
        tmp_path / "local.rules",
        b'alert http any any -> any any (msg:"local test"; sid:9100001; rev:1;)\n',
    )
    (tmp_path / "jcfg").mkdir()
    (tmp_path / "jcfg" / "jupyter_sauce_config.json").write_text(
        json.dumps({"RulesConfig": {"data_dir": str(tmp_path / "su")}})
    )
    r = cli(tmp_path, "rules", "update", "--local", str(rules))
    assert r.returncode == 0, r.stderr
    assert "Installed " in r.stdout
    installed = (tmp_path / "su" / "rules" / "suricata.rules").read_text()
    assert 'msg:"local test"; sid:9100001' in installed
    assert "(1 of yours, the others bundled with Suricata" in r.stdout
    r = cli(tmp_path, "rules", "show")
    assert r.stdout.startswith("Default ruleset: installed")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "nonexistent.rules", "does not exist"),
        (lambda d: write(d / "junk.rules", b"just some words\n"), "contains no rules"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "holds no .rules files"),
    ],
    ids=["missing", "junk", "empty-dir"],
)
def test_rules_update_refuses_a_bad_local_path(tmp_path: Path, make, message: str) -> None:
    """Bug: any --local path 'installed' Suricata's own 365 event rules and replaced the
    default ruleset, so the next analysis quietly lost its rules."""
    if shutil.which("suricata-update") is None:
        pytest.skip("suricata-update is not installed")
    (tmp_path / "jcfg").mkdir()
    (tmp_path / "jcfg" / "jupyter_sauce_config.json").write_text(
        json.dumps({"RulesConfig": {"data_dir": str(tmp_path / "su")}})
    )
    r = cli(tmp_path, "rules", "update", "--local", str(make(tmp_path)))
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "su" / "rules" / "suricata.rules").exists()


def test_rules_update_offline_says_nothing_was_fetched(tmp_path: Path) -> None:
    if shutil.which("suricata-update") is None:
        pytest.skip("suricata-update is not installed")
    (tmp_path / "jcfg").mkdir()
    (tmp_path / "jcfg" / "jupyter_sauce_config.json").write_text(
        json.dumps({"RulesConfig": {"data_dir": str(tmp_path / "su")}})
    )
    r = cli(tmp_path, "rules", "update")  # this machine has no internet: nothing is fetched
    assert r.returncode == 1, (r.stdout, r.stderr)  # a failure, not bad input
    assert "fetched no ET Open rules" in r.stderr and "nothing was installed" in r.stderr
    # suricata-update's log is shown indented above the sentence, which stays the last line
    # (it was buried under 20 lines of log that ended in suricata-update's own error)
    lines = r.stderr.splitlines()
    assert lines[-1].startswith("jupyter sauce: error: suricata-update fetched no ET Open")
    assert len(lines) > 2 and all(line.startswith("  | ") for line in lines[:-1])
    # Bug: Suricata's own protocol-event rules were installed anyway and became the
    # default ruleset, so the demo capture analysed with the defaults showed no alerts.
    assert not (tmp_path / "su" / "rules" / "suricata.rules").exists()
    assert cli(tmp_path, "rules", "show").stdout.startswith("Default ruleset: starter")


def test_failed_rules_update_keeps_the_installed_rules(tmp_path: Path) -> None:
    """Bug: a failed update (offline, or local rules suricata-update dropped) overwrote the
    rules installed before."""
    if shutil.which("suricata-update") is None:
        pytest.skip("suricata-update is not installed")
    good = write(tmp_path / "good.rules",
                 b'alert http any any -> any any (msg:"kept"; sid:9100002; rev:1;)\n')  # fmt: skip
    (tmp_path / "jcfg").mkdir()
    (tmp_path / "jcfg" / "jupyter_sauce_config.json").write_text(
        json.dumps({"RulesConfig": {"data_dir": str(tmp_path / "su")}})
    )
    assert cli(tmp_path, "rules", "update", "--local", str(good)).returncode == 0
    installed = tmp_path / "su" / "rules" / "suricata.rules"
    before = installed.read_bytes()
    # a rule suricata-update drops (no closing parenthesis), then the offline fetch
    bad = write(tmp_path / "bad.rules",
                b'alert http any any -> any any (msg:"bad"; sid:9100003; rev:1;\n')  # fmt: skip
    for args in (("--local", str(bad)), ()):
        r = cli(tmp_path, "rules", "update", *args)
        assert r.returncode in (1, 2) and "nothing was installed" in r.stderr, r.stderr
        assert installed.read_bytes() == before
    assert [p.name for p in installed.parent.iterdir()] == ["suricata.rules"]  # no leftovers


@needs_corpus
def test_several_captures_reuse_the_warm_engine(tmp_path: Path) -> None:
    caps = [PCAPS / "esnet-curated" / "nmap_80_all.pcap", PCAPS / "zeek" / "testmyids.pcap"]
    r = cli(
        tmp_path, "analyze", *map(str, caps), "--rules", str(ET_OPEN), "--format", "json", "--no-vt"
    )
    assert r.returncode == 0, r.stderr
    docs = json.loads(r.stdout)
    assert [d["engine"] for d in docs] == ["warm", "warm"]
    assert docs[0]["counts"]["alerts"] == 28
    assert {g["signature_id"] for g in docs[1]["alert_groups"]} == {2013028, 2100498}


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("usage.json", "{not json", "not valid JSON"),
        ("usage.json", "[1, 2]", "holds a JSON list"),
        ("not_found.json", '{"203.78.103.109": "yesterday"}', "is not a date"),
    ],
)
def test_damaged_virustotal_files_are_named_not_a_traceback(
    tmp_path: Path, name: str, content: str, why: str
) -> None:
    """Bug: a hand-edited or broken VirusTotal cache file ended the CLI in a traceback."""
    cap = demo(tmp_path / "demo.pcap")
    vt_dir = tmp_path / "store" / "virustotal"
    vt_dir.mkdir(parents=True)
    (vt_dir / name).write_text(content)
    r = cli(tmp_path, "analyze", str(cap), "--rules", "starter")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert f"{name}' is damaged" in r.stderr and why in r.stderr
    assert (vt_dir / name).read_text() == content  # never silently reset


def test_unexpected_error_is_one_sentence() -> None:
    from jupyter_sauce.cli import _unexpected

    try:
        {}["x"]
    except KeyError as exc:
        text = _unexpected(exc)
    assert text.startswith("unexpected KeyError in test_cli.py:") and "--debug" in text
    assert _unexpected(PermissionError(13, "Permission denied", "/x")) == "Permission denied (/x)."


def test_out_is_named_after_the_captures_given_and_never_overwrites(tmp_path: Path) -> None:
    """Bugs: a renamed copy of an analysed capture was reported and written under the
    stored entry's name; two captures with one stem wrote into one folder; --out kept
    flows the range filter had dropped."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = demo(tmp_path / "a" / "case.pcap")
    other = write(tmp_path / "b" / "case.pcap", pcap_bytes(http_records(ua="curl-like/1.0")))
    renamed = tmp_path / "renamed.pcap"
    shutil.copy(first, renamed)
    assert cli(tmp_path, "analyze", str(first), "--rules", "starter", "--no-vt").returncode == 0
    r = cli(
        tmp_path, "analyze", str(renamed), str(first), str(other), "--rules", "starter",
        "--no-vt", "--format", "json", "--exclude-src", "10.42.0.0/16",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    docs = json.loads(r.stdout)
    assert [d["capture"] for d in docs] == [str(renamed), str(first), str(other)]
    assert docs[0]["sha256"] == docs[1]["sha256"] != docs[2]["sha256"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["case", "case-2", "renamed"]
    flows = pd.read_csv(tmp_path / "out" / "renamed" / "flows.csv")
    assert len(flows) and not flows["src_ip"].str.startswith("10.42.").any()
    table = cli(tmp_path, "analyze", str(renamed), "--rules", "starter", "--no-vt")
    assert table.stdout.startswith("== renamed.pcap  (")


def test_out_never_overwrites_another_captures_results_from_an_earlier_call(
    tmp_path: Path,
) -> None:
    """Two calls with captures of one stem (a/case.pcap, then b/case.pcap) wrote into one
    folder: the second silently replaced the first's results. The same capture again
    updates its own folder."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = demo(tmp_path / "a" / "case.pcap")
    other = write(tmp_path / "b" / "case.pcap", pcap_bytes(http_records(ua="curl-like/1.0")))
    out = tmp_path / "out"
    for capture in (first, other, first):
        r = cli(tmp_path, "analyze", str(capture), "--rules", "starter", "--no-vt",
                "--out", str(out))  # fmt: skip
        assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["case", "case-2"]
    owners = {p.name: json.loads((p / "capture.json").read_text()) for p in out.iterdir()}
    assert owners["case"]["capture"] == str(first)
    assert owners["case-2"]["capture"] == str(other)
    assert "194.61.24.102" in (out / "case" / "alerts.csv").read_text()
    assert len(pd.read_csv(out / "case-2" / "alerts.csv")) == 0  # its own: no Nmap agent
    assert owners["case"]["sha256"] != owners["case-2"]["sha256"]


def test_bad_paths_are_refused_before_suricata_runs(tmp_path: Path) -> None:
    """Bug: ``analyze good.pcap missing.pcap`` analysed the first, then exited 2 with
    nothing printed; ``--out ''`` and a missing ``--reports`` folder went unnoticed."""
    good = demo(tmp_path / "good.pcap")
    for extra, message in (
        ([str(good), str(tmp_path / "missing.pcap")], "missing.pcap' does not exist"),
        ([str(good), "--out", ""], "--out needs a folder name"),
        ([str(good), "--reports", str(tmp_path / "nope")], "without a VirusTotal key there is"),
        ([str(good), "--reports", str(good)], "given with --reports is not a directory"),
        (
            [str(good), str(write(tmp_path / "notes.pcap", b"just text\n"))],
            "'notes.pcap' is not a pcap or pcapng capture; it looks like a text file",
        ),
        ([str(good), "--out", str(good)], "--out names a file"),
        ([str(good), "--out", str(good / "sub")], "--out: The folder"),  # under a file
    ):
        r = cli(tmp_path, "analyze", "--rules", "starter", *extra)
        assert r.returncode == 2, r.stderr
        assert message in r.stderr
        assert not list((tmp_path / "store" / "entries").glob("*"))  # nothing was run


def test_home_net_host_bits_are_noted(tmp_path: Path) -> None:
    r = cli(tmp_path, "analyze", str(demo(tmp_path / "d.pcap")), "--rules", "starter", "--no-vt",
            "--home-net", "10.42.85.10/16")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "--home-net:" in r.stderr and "10.42.0.0/16" in r.stderr
    assert "HOME_NET: 10.42.0.0/16" in r.stdout
    r = cli(tmp_path, "analyze", str(demo(tmp_path / "d.pcap")), "--rules", "starter", "--no-vt",
            "--exclude-src", "10.42.85.10/16")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (
        "jupyter sauce: note: --exclude-src: 10.42.85.10/16 has host bits set; using 10.42.0.0/16."
        in r.stderr
    )  # named as the option was typed (it said "exclude_src:")


def test_a_rejected_key_still_shows_the_analysis(tmp_path: Path) -> None:
    """Bug: a VirusTotal 401 dropped the whole output; now the alerts and IoCs are shown,
    with the error, and the exit code says it failed."""
    from vtserver import VTServer

    with VTServer() as vt:
        (tmp_path / "jcfg").mkdir()
        (tmp_path / "jcfg" / "jupyter_sauce_config.json").write_text(
            json.dumps({"VirusTotalConfig": {"host": vt.url, "requests_per_minute": 0}})
        )
        r = cli(tmp_path, "analyze", str(demo(tmp_path / "d.pcap")), "--rules", "starter",
                env={"VT_API_KEY": "not-the-right-key-42"})  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert "SAUCE SCAN Nmap Scripting Engine or Nmap User-Agent" in r.stdout
    assert "IoCs are shown without VirusTotal" in r.stdout
    assert "194.61.24.102" in r.stdout
    assert "not-the-right-key-42" not in r.stdout + r.stderr


def test_teachers_reports_folder_is_created_and_filled_by_live_answers(tmp_path: Path) -> None:
    """The README's class set-up: ``--reports`` names a folder that does not exist yet; with
    a key, the live answers are saved there as offline reports for the students."""
    from vtserver import TEST_API_KEY, VTServer

    report = {"data": {"type": "ip_address", "id": "194.61.24.102", "attributes": {
        "last_analysis_stats": {"malicious": 7}, "as_owner": "Example AS"}}}  # fmt: skip
    reports = tmp_path / "class" / "vt-reports"
    with VTServer({"194.61.24.102": report}) as vt:
        (tmp_path / "jcfg").mkdir()
        (tmp_path / "jcfg" / "jupyter_sauce_config.json").write_text(
            json.dumps({"VirusTotalConfig": {"host": vt.url, "requests_per_minute": 0}})
        )
        r = cli(tmp_path, "analyze", str(demo(tmp_path / "d.pcap")), "--rules", "starter",
                "--reports", str(reports), env={"VT_API_KEY": TEST_API_KEY})  # fmt: skip
    assert r.returncode == 0, r.stderr
    saved = json.loads((reports / "194.61.24.102.json").read_text())
    assert saved["data"]["attributes"]["last_analysis_stats"]["malicious"] == 7
    # a student with no key reads it offline
    again = cli(tmp_path, "analyze", str(tmp_path / "d.pcap"), "--rules", "starter",
                "--reports", str(reports), "--format", "json")  # fmt: skip
    assert again.returncode == 0, again.stderr
    row = next(i for i in json.loads(again.stdout)[0]["iocs"] if i["ip"] == "194.61.24.102")
    assert row["malicious"] == 7 and row["source"] in ("offline", "cache")


def test_out_folders_stay_inside_out(tmp_path: Path) -> None:
    """Bug: captures named '...pcap' and '..pcap' made the folders '..' and '.', so the
    results overwrote files beside and in --out."""
    from jupyter_sauce.cli_output import out_dirs

    out = tmp_path / "out"
    given = [Path("...pcap"), Path("..pcap"), Path(".pcap"), Path("a/.hidden.pcap"), Path("x.pcap")]
    pairs = [(path, f"{i:064x}") for i, path in enumerate(given)]
    assert [d.relative_to(out).as_posix() for d in out_dirs(out, pairs)] == [
        "capture", "capture-2", "pcap", "hidden", "x"]  # fmt: skip
    # the same capture given twice is one folder (it replaces its own files); another
    # capture of the same name gets its own
    same = [(Path("a/x.pcap"), "1" * 64), (Path("x.pcap"), "1" * 64), (Path("b/x.pcap"), "2" * 64)]
    assert [d.name for d in out_dirs(out, same)] == ["x", "x", "x-2"]
    precious = write(tmp_path / "alerts.csv", b"precious\n")
    caps = [demo(tmp_path / "...pcap"), demo(tmp_path / "..pcap")]
    r = cli(tmp_path, "analyze", "--rules", "starter", "--no-vt", "--out", str(out), "--",
            *map(str, caps))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"jupyter sauce: wrote 7 files to {out / 'capture'}" in r.stderr
    assert precious.read_bytes() == b"precious\n"
    # the same content under two names: one folder, as the same capture given twice
    assert sorted(p.name for p in out.iterdir()) == ["capture"]
    assert (out / "capture" / "alerts.csv").is_file()


def test_an_unusable_key_is_refused_before_suricata_runs(tmp_path: Path) -> None:
    (tmp_path / "jcfg").mkdir()
    (tmp_path / "jcfg" / "jupyter_sauce_config.json").write_text(
        json.dumps({"VirusTotalConfig": {"api_key_file": str(tmp_path / "missing.key")}})
    )
    r = cli(tmp_path, "analyze", str(demo(tmp_path / "d.pcap")), "--rules", "starter")
    assert r.returncode == 2, r.stderr
    assert (
        "missing.key'" in r.stderr
        and "cannot be read" in r.stderr
        and "analyse with --no-vt" in r.stderr
    )
    assert not (tmp_path / "store" / "entries").exists() or not list(
        (tmp_path / "store" / "entries").iterdir()
    )  # Suricata never ran
    assert cli(tmp_path, "analyze", str(tmp_path / "d.pcap"), "--rules", "starter",
               "--no-vt").returncode == 0  # fmt: skip


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    cap = demo(tmp_path / "d.pcap")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_sauce.cli", "--store", str(tmp_path / "store"),
         "analyze", str(cap), "--rules", "starter", "--no-vt"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg")},
    )  # fmt: skip
    assert proc.stdout.read(10)  # like ``| head -c 10``
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(120) == 141
    assert "error" not in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("make", "header"),
    [
        (lambda r: pcap_bytes(r, ">", nanos=True),
         "pcap, big-endian, nanosecond timestamps, Ethernet"),
        (lambda r: pcapng_bytes(r, ">"), "pcapng, big-endian, microsecond timestamps, Ethernet"),
        (lambda r: pcap_bytes(r), "pcap, little-endian, microsecond timestamps, Ethernet"),
    ],
    ids=["pcap-be-ns", "pcapng-be", "pcap-le-us"],
)  # fmt: skip
def test_every_capture_format_is_analysed_and_its_format_reported(
    tmp_path: Path, make, header: str
) -> None:
    """Both byte orders, both resolutions and pcapng, through Suricata: the same 5 demo
    alerts with the same times; the table header and the JSON name the format."""
    from jupyter_sauce.demo import demo_records

    cap = write(tmp_path / "odd.cap", make(demo_records()))
    r = cli(tmp_path, "analyze", str(cap), "--rules", "starter", "--no-vt")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"== odd.cap  (217 packets, {header}, sha256 ")
    doc = json.loads(cli(tmp_path, "analyze", str(cap), "--rules", "starter", "--no-vt",
                         "--format", "json").stdout)[0]  # fmt: skip
    assert doc["format"]["link_names"] == ["Ethernet"] and doc["counts"]["alerts"] == 5
    ref = json.loads(cli(tmp_path, "analyze", str(demo(tmp_path / "ref.pcap")), "--rules",
                         "starter", "--no-vt", "--format", "json").stdout)[0]  # fmt: skip
    assert doc["alert_groups"] == ref["alert_groups"]  # same alerts, same times to the µs
    nmap = next(g for g in doc["alert_groups"] if g["signature_id"] == 9000001)
    assert nmap["first_seen"] == "2020-09-19T02:19:30.003000Z"  # microseconds, as in the table


def test_alert_groups_count_and_first_and_last_seen(tmp_path: Path) -> None:
    r = cli(tmp_path, "analyze", str(demo(tmp_path / "d.pcap")), "--rules", "starter", "--no-vt",
            "--format", "json")  # fmt: skip
    groups = json.loads(r.stdout)[0]["alert_groups"]
    assert [(g["signature_id"], g["src_ip"], g["dest_ip"], g["count"]) for g in groups] == [
        (9000001, "194.61.24.102", "10.42.85.10", 2),  # most alerts first
        (9000002, "194.61.24.102", "10.42.85.10", 1),
        (9000003, "194.61.24.102", "10.42.85.10", 1),
        (9000004, "10.42.85.10", "203.78.103.109", 1),
    ]
    nmap = groups[0]
    assert (nmap["first_seen"], nmap["last_seen"]) == (
        "2020-09-19T02:19:30.003000Z", "2020-09-19T02:19:32.003000Z")  # fmt: skip
    table = cli(tmp_path, "analyze", str(tmp_path / "d.pcap"), "--rules", "starter", "--no-vt")
    row = next(line for line in table.stdout.splitlines() if line.strip().startswith("9000001"))
    assert row.split()[-5:] == ["2", "2020-09-19", "02:19:30", "2020-09-19", "02:19:32"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--store", "", "analyze", "x.pcap"], "argument --store: an empty value is not a path"),
        (["analyze", ""], "argument CAPTURE: an empty value is not a path"),
        (["analyze", "x.pcap", "--rules", " "], "argument --rules: an empty value is not a path"),
        (["reports", "export", ""], "argument dest: an empty value is not a path"),
        (["analyze", "x.pcap", "--exclude-src", "10.0.0.0/33"],
         "error: --exclude-src: '10.0.0.0/33' is not a valid address or CIDR range."),
        (["reports", "export", "/proc/nope/x"], "The folder '/proc/nope/x' cannot be created"),
    ],
    ids=["store", "capture", "rules", "export", "range-option", "export-unwritable"],
)  # fmt: skip
def test_bad_arguments_are_named_and_exit_2(tmp_path: Path, args: list, message: str) -> None:
    """Bug: empty paths quietly meant the default store or '.', a bad range was named by an
    internal field (exclude_src), and an unwritable export folder exited 1."""
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter_sauce.cli", *args], capture_output=True, text=True,
        cwd=tmp_path, timeout=120,
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "VT_API_KEY": ""},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_demo_and_lab_paths_are_named_when_wrong(tmp_path: Path) -> None:
    """`lab ''` wrote the demo into the working directory; `demo --path afile/x.pcap`
    said only "File exists"."""
    afile = write(tmp_path / "afile", b"x")
    r = cli(tmp_path, "demo", "--path", str(afile / "x.pcap"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        f"jupyter sauce: error: The demo capture cannot be written to "
        f"{str(afile / 'x.pcap')!r}: {str(afile)!r} is a file, not a folder to write into."
    )
    r = cli(tmp_path, "lab", "")
    assert r.returncode == 2 and "an empty value is not a path" in r.stderr
    assert not (tmp_path / "szechuan.ipynb").exists() and sorted(
        p.name for p in tmp_path.iterdir()
    ) == ["afile"]


def test_store_also_after_the_command(tmp_path: Path) -> None:
    """`analyze ... --store X` said "unrecognized arguments" (only `--store X analyze`
    worked), unlike --debug."""
    store = tmp_path / "late-store"
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_sauce.cli", "analyze", str(demo(tmp_path / "d.pcap")),
         "--rules", "starter", "--no-vt", "--store", str(store)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "VT_API_KEY": ""},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert len(list((store / "entries").iterdir())) == 1


def test_a_range_option_given_twice_keeps_both_and_a_single_one_is_refused(
    tmp_path: Path,
) -> None:
    """`--exclude-src 10.0.0.0/8 --exclude-src 172.16.0.0/12` kept only the last range
    (the 10.x sources were still shown); `--rules A --rules B` used B quietly."""
    capture = demo(tmp_path / "demo.pcap")
    r = cli(tmp_path, "analyze", str(capture), "--rules", "starter", "--no-vt",
            "--format", "json", "--exclude-src", "10.42.0.0/16",
            "--exclude-src", "194.61.24.0/24")  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)[0]
    assert doc["counts"] == {"alerts": 5, "shown": 0}
    assert doc["filters"]["exclude_src"] == "10.42.0.0/16, 194.61.24.0/24"
    for option, values in (("--rules", ("starter", "installed")), ("--out", ("a", "b")),
                           ("--format", ("csv", "json"))):  # fmt: skip
        r = cli(tmp_path, "analyze", str(capture), option, values[0], option, values[1])
        assert r.returncode == 2
        assert r.stderr.strip().splitlines()[-1] == (
            f"jupyter sauce analyze: error: {option} was given more than once; give it once."
        )


def test_terminal_escapes_in_report_fields_and_names_are_shown_escaped(
    tmp_path: Path, corpus: Path
) -> None:
    """An offline report whose as_owner held ESC[31m was printed raw (it recoloured or
    rewrote the terminal), and so were control characters in progress lines."""
    reports = tmp_path / "reports"
    reports.mkdir()
    report = json.loads((corpus / "virustotal" / "ip_8.8.8.8_minimal_menagos.json").read_text())
    report["data"]["id"] = "194.61.24.102"
    report["data"]["attributes"]["as_owner"] = "Evil \x1b[31mRED\x1b[0m \u202eOwner"
    (reports / "194.61.24.102.json").write_text(json.dumps(report))
    capture = demo(tmp_path / "bell\x07.pcap")
    r = cli(tmp_path, "analyze", str(capture), "--rules", "starter", "--reports", str(reports))
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout + r.stderr and "\x07" not in r.stdout + r.stderr
    assert "\u202e" not in r.stdout
    assert "Evil \\x1b[31mRED\\x1b[0m \\u202eOwner" in r.stdout
    assert "== bell\\x07.pcap  (" in r.stdout


def test_file_names_that_are_not_utf8(tmp_path: Path) -> None:
    """A capture or rules folder named in Latin-1 (legal on Linux) ended in "unexpected
    UnicodeEncodeError" after Suricata had run; a store so named made Suricata fail."""
    capture = demo(Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.pcap")))
    rules = Path(os.fsdecode(os.fsencode(tmp_path) + b"/r\xe8gles"))
    rules.mkdir()
    (rules / "nmap.rules").write_text(
        'alert http any any -> any any (msg:"UA Nmap"; http.user_agent; content:"Nmap"; '
        "sid:1; rev:1;)\n"
    )
    shutil.copy(ET_OPEN / "classification.config", rules)
    r = cli(tmp_path, "analyze", str(capture), "--rules", str(rules), "--no-vt", "--format",
            "json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)[0]
    assert doc["capture"] == str(capture) and doc["counts"]["alerts"] >= 1
    again = cli(tmp_path, "analyze", str(capture), "--rules", str(rules), "--no-vt")
    assert again.returncode == 0 and "stored result of" in again.stdout
    store = os.fsdecode(os.fsencode(tmp_path) + b"/st\xf6re")
    r = subprocess.run(
        [sys.executable, "-m", "jupyter_sauce.cli", "--store", store, "analyze", str(capture),
         "--rules", "starter", "--no-vt"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "VT_API_KEY": ""},
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        f"jupyter sauce: error: The case store {store!r} has a name that is not UTF-8, which "
        "Suricata's configuration cannot hold; set StoreConfig.store_dir or --store."
    )


def test_a_rule_line_with_control_bytes_is_reported_escaped(tmp_path: Path) -> None:
    """A rules file with binary bytes made the failed-rule warning print them raw."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.rules").write_bytes(
        b'alert http any any -> any any (msg:"UA Nmap"; http.user_agent; content:"Nmap"; '
        b"sid:1; rev:1;)\n"
        b"\x1b[2J\x07 garbage that is not a rule\n"
    )
    shutil.copy(ET_OPEN / "classification.config", rules)
    r = cli(tmp_path, "analyze", str(demo(tmp_path / "d.pcap")), "--rules", str(rules), "--no-vt")
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout + r.stderr and "\x07" not in r.stdout + r.stderr
    assert "\\x1b[2J\\x07 garbage" in r.stdout + r.stderr
