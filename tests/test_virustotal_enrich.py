"""Enrichment end to end: vt-py against a real local VirusTotal-compatible HTTP server."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
import vtserver
from vtserver import TEST_API_KEY, VTServer

from jupyter_sauce.config import VirusTotalConfig
from jupyter_sauce.errors import CredentialsError
from jupyter_sauce.virustotal import (
    INTEL_COLUMNS,
    NO_KEY_NOTICE,
    Enricher,
    EnrichProgress,
    RateLimiter,
)

# the reusable server fixtures (tests/vtserver.py), made visible to this module
vt_server = vtserver.vt_server
vt_server_factory = vtserver.vt_server_factory

REPORTED = ["8.8.8.8", "138.128.150.133"]  # the corpus has reports for these
PRIVATE = ["10.42.85.10", "192.168.1.1", "127.0.0.1", "fe80::1", "224.0.0.251"]
MINIMAL = {
    "data": {
        "type": "ip_address",
        "id": "194.61.24.102",
        "attributes": {"last_analysis_stats": {"malicious": 3}, "last_analysis_date": 1600000000},
    }
}

EnricherFactory = Callable[..., Enricher]


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """Every loop thread and server thread a test starts is stopped by its end."""
    yield
    names = {"jupyter-sauce-vt", "vtserver"}
    assert [t.name for t in threading.enumerate() if t.name in names] == []


@pytest.fixture
def make_enricher(tmp_path: Path) -> Iterator[EnricherFactory]:
    """Build enrichers (config traits as keyword arguments); all closed at teardown."""
    made: list[Enricher] = []

    def make(cache_dir: Path | None = None, rate_limiter: RateLimiter | None = None, **traits):
        traits.setdefault("requests_per_minute", 0)  # no pacing unless a test asks for it
        traits.setdefault("timeout", 10.0)
        enricher = Enricher(
            VirusTotalConfig(**traits), cache_dir or tmp_path / "cache", rate_limiter=rate_limiter
        )
        made.append(enricher)
        return enricher

    try:
        yield make
    finally:
        for enricher in made:
            enricher.close()


def sources(result) -> dict[str, str]:
    return dict(zip(result.frame["ip"], result.frame["source"], strict=True))


def test_live_results_are_saved_and_reused(vt_server: VTServer, make_enricher, tmp_path) -> None:
    enricher = make_enricher(api_key=TEST_API_KEY, host=vt_server.url)
    result = enricher.enrich([*REPORTED, *PRIVATE, "8.8.8.8"])
    frame = result.frame
    assert tuple(frame.columns) == INTEL_COLUMNS
    assert list(frame["ip"]) == [*REPORTED, *PRIVATE]  # distinct, input order
    assert sources(result) == {
        **dict.fromkeys(REPORTED, "live"),
        **dict.fromkeys(PRIVATE, "skipped"),
    }
    assert sorted(vt_server.requested_ips()) == sorted(REPORTED)  # private IPs never requested
    row = frame.set_index("ip").loc["138.128.150.133"]
    assert (row["malicious"], row["harmless"], row["asn"], row["country"]) == (4, 77, 13886, "GB")
    assert row["link"] == "https://www.virustotal.com/gui/ip-address/138.128.150.133"
    assert pd.isna(frame.set_index("ip").loc["10.42.85.10", "link"])
    assert str(frame["last_analysis_date"].dtype).startswith("timestamp[us, tz=UTC]")
    assert result.requests_made == 2 and result.quota_used_today == 2
    # saved as offline reports, in the cache layout
    assert (tmp_path / "cache" / "reports" / "138.128.150.133.json").is_file()
    assert (tmp_path / "cache" / "cache" / "8.8.8.8.json").is_file()

    vt_server.reset()
    again = enricher.enrich(REPORTED)
    assert vt_server.requests == []  # second enrichment made 0 requests
    assert set(sources(again).values()) == {"cache"}
    # a later analysis (new process, same cache dir) needs no request either
    later = make_enricher(api_key=TEST_API_KEY, host=vt_server.url)
    assert set(sources(later.enrich(REPORTED)).values()) == {"cache"}
    assert vt_server.requests == []
    # and a key-less analysis with only the reports directory finds them offline
    offline = make_enricher(
        cache_dir=tmp_path / "other", api_key="", reports_dir=str(tmp_path / "cache" / "reports")
    )
    assert set(sources(offline.enrich(REPORTED)).values()) == {"offline"}


def test_mapped_and_nat64_addresses_are_looked_up_as_their_ipv4_host(
    vt_server: VTServer, make_enricher
) -> None:
    """::ffff:8.8.8.8 was requested from VirusTotal as IPv6 text, which it does not know:
    the lookup (one request), the report and the link are the IPv4 host's."""
    enricher = make_enricher(api_key=TEST_API_KEY, host=vt_server.url)
    asked = ["::ffff:8.8.8.8", "64:ff9b::808:808", "8.8.8.8", "::ffff:10.42.85.10"]
    frame = enricher.enrich(asked).frame
    assert list(frame["ip"]) == asked  # the rows are the addresses asked for
    assert list(frame["source"]) == ["live", "live", "live", "skipped"]
    assert vt_server.requested_ips() == ["8.8.8.8"]
    link = "https://www.virustotal.com/gui/ip-address/8.8.8.8"
    assert list(frame["link"].iloc[:3]) == [link] * 3
    reports = [[repr(v) for v in row] for row in frame.drop(columns="ip").iloc[:3].itertuples()]
    assert [row[1:] for row in reports[:2]] == [reports[2][1:]] * 2  # the same report
    assert frame["harmless"].iloc[0] > 0


def test_not_found_is_cached(vt_server_factory, make_enricher) -> None:
    server = vt_server_factory({})
    enricher = make_enricher(api_key=TEST_API_KEY, host=server.url)
    first = enricher.enrich(["1.2.3.4", "2001:4860:4860:0:0:0:0:8888"])
    assert list(first.frame["source"]) == ["live", "live"]
    assert list(first.frame["error"]) == ["not found in VirusTotal"] * 2
    assert first.not_found == ["1.2.3.4", "2001:4860:4860::8888"]
    assert server.requested_ips() == ["1.2.3.4", "2001:4860:4860::8888"]
    assert first.frame["link"].iloc[1].endswith("/ip-address/2001:4860:4860::8888")
    second = enricher.enrich(["1.2.3.4"])
    assert list(second.frame["source"]) == ["cache"]
    assert second.frame["error"].iloc[0] == "not found in VirusTotal"
    assert len(server.requests) == 2


def test_works_inside_a_running_event_loop(vt_server_factory, make_enricher) -> None:
    server = vt_server_factory({"194.61.24.102": MINIMAL})
    enricher = make_enricher(api_key=TEST_API_KEY, host=server.url)

    async def in_kernel():  # like a cell in a Jupyter kernel, whose loop is running
        asyncio.get_running_loop()
        return enricher.enrich(["194.61.24.102", "9.9.9.9"])

    result = asyncio.run(in_kernel())
    assert list(result.frame["source"]) == ["live", "live"]
    assert result.frame["malicious"].iloc[0] == 3
    stamp = result.frame["last_analysis_date"].iloc[0]
    assert stamp == pd.Timestamp(1600000000, unit="s", tz="UTC")
    assert len(server.requests) == 2


def test_wrong_key_is_one_credentials_error_without_the_key(
    vt_server_factory, make_enricher, caplog
) -> None:
    secret = "0123456789abcdef-very-secret-key"
    server = vt_server_factory({"194.61.24.102": MINIMAL})  # expects TEST_API_KEY
    enricher = make_enricher(api_key=secret, host=server.url)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CredentialsError) as info:
        enricher.enrich(["194.61.24.102", "9.9.9.9"])
    error = info.value
    assert "rejected the API key" in str(error)
    assert len(server.requests) == 1 and not server.requests[0].key_ok
    for text in (str(error), repr(error), error.details, error.message, caplog.text):
        assert secret not in text
    assert secret not in repr(enricher) and secret not in json.dumps(enricher.status())


def test_key_never_appears_in_results_or_logs(vt_server: VTServer, make_enricher, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    enricher = make_enricher(api_key=TEST_API_KEY, host=vt_server.url)
    result = enricher.enrich([*REPORTED, "1.2.3.4", "10.0.0.1"], progress=lambda p: None)
    status = enricher.status()
    assert status["mode"] == "live" and status["quota_used_today"] == 3
    texts = [result.frame.to_csv(), repr(result), json.dumps(status), caplog.text, repr(enricher)]
    for text in texts:
        assert TEST_API_KEY not in text


def test_quota_exceeded_stops_live_lookups_and_keeps_results(
    vt_server: VTServer, make_enricher
) -> None:
    vt_server.quota_after = 1
    enricher = make_enricher(api_key=TEST_API_KEY, host=vt_server.url)
    result = enricher.enrich([*REPORTED, "1.2.3.4"])
    frame = result.frame.set_index("ip")
    assert frame.loc["8.8.8.8", "source"] == "live"
    assert frame.loc["138.128.150.133", "source"] == "error"
    assert "quota exceeded" in frame.loc["138.128.150.133", "error"]
    assert frame.loc["1.2.3.4", "error"] == "not looked up: VirusTotal quota exceeded"
    assert result.quota_exhausted and len(vt_server.requests) == 2
    assert [r.status for r in vt_server.requests] == [200, 429]
    assert any("quota exceeded" in n for n in result.notices)


def test_daily_limit_is_enforced_and_persisted(vt_server: VTServer, make_enricher) -> None:
    enricher = make_enricher(api_key=TEST_API_KEY, host=vt_server.url, requests_per_day=1)
    result = enricher.enrich(REPORTED)
    assert list(result.frame["source"]) == ["live", "error"]
    assert "daily limit of 1" in result.frame["error"].iloc[1]
    assert result.quota == {"used_today": 1, "limit": 1, "exhausted": True}
    other = make_enricher(api_key=TEST_API_KEY, host=vt_server.url, requests_per_day=1)
    assert other.status()["quota_used_today"] == 1
    assert other.enrich(["138.128.150.133"]).quota_exhausted
    assert len(vt_server.requests) == 1


def test_no_key_means_offline_only(vt_server: VTServer, make_enricher, monkeypatch) -> None:
    monkeypatch.delenv("VT_API_KEY", raising=False)
    enricher = make_enricher(host=vt_server.url)
    result = enricher.enrich(REPORTED)
    assert result.notices[0] == NO_KEY_NOTICE == "No VirusTotal API key: offline reports only."
    assert set(result.frame["source"]) == {"none"} and result.frame["error"].isna().all()
    assert vt_server.requests == [] and enricher.status()["mode"] == "offline"


def test_key_from_the_environment(vt_server: VTServer, make_enricher, monkeypatch) -> None:
    monkeypatch.setenv("VT_API_KEY", TEST_API_KEY)
    enricher = make_enricher(host=vt_server.url)
    assert set(enricher.enrich(REPORTED).frame["source"]) == {"live"}


def test_progress_reports_done_total_and_eta(vt_server: VTServer, make_enricher) -> None:
    now = [0.0]
    waits: list[float] = []

    def wait(seconds: float, cancel: threading.Event | None) -> bool:
        waits.append(seconds)
        now[0] += seconds
        return False

    limiter = RateLimiter(2, 60.0, clock=lambda: now[0], waiter=wait)
    enricher = make_enricher(api_key=TEST_API_KEY, host=vt_server.url, rate_limiter=limiter)
    events: list[EnrichProgress] = []
    ips = [*REPORTED, "1.2.3.4", "5.6.7.8", "10.0.0.1"]
    enricher.enrich(ips, progress=events.append)
    assert [(e.done, e.total) for e in events] == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    # two slots per 60 s: the last two lookups wait for the window until the third is sent
    assert [e.eta_seconds for e in events] == [60.0, 60.0, 60.0, 0.0, 0.0]
    assert waits == [60.0]  # the third lookup waited for the window, the fourth did not


def test_rate_limit_really_waits(vt_server: VTServer, make_enricher) -> None:
    import time

    enricher = make_enricher(
        api_key=TEST_API_KEY, host=vt_server.url, rate_limiter=RateLimiter(1, 0.6)
    )
    start = time.monotonic()
    enricher.enrich([*REPORTED, "1.2.3.4"])
    assert 1.1 <= time.monotonic() - start < 5.0
    assert len(vt_server.requests) == 3


def test_cancel_keeps_what_was_found(vt_server: VTServer, make_enricher) -> None:
    cancel = threading.Event()
    enricher = make_enricher(api_key=TEST_API_KEY, host=vt_server.url)
    result = enricher.enrich(
        [*REPORTED, "1.2.3.4"], progress=lambda p: p.ip and cancel.set(), cancel=cancel
    )
    assert list(result.frame["source"]) == ["live", "error", "error"]
    assert set(result.frame["error"].iloc[1:]) == {"not looked up: cancelled"}
    assert result.cancelled and len(vt_server.requests) == 1


def test_unreachable_server_is_per_ip_errors_then_stops(make_enricher, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    dead = VTServer({})
    url = dead.url
    dead.stop()  # nothing listens on this port any more
    enricher = make_enricher(api_key=TEST_API_KEY, host=url, timeout=5.0)
    result = enricher.enrich(["1.1.1.1", "1.0.0.1", "9.9.9.9", "8.8.4.4"])
    errors = list(result.frame["error"])
    assert all("could not be reached" in e for e in errors[:3])
    assert errors[3] == "not looked up: 3 lookups failed in a row"
    assert TEST_API_KEY not in caplog.text + result.frame.to_csv()


def test_lookup_non_global_and_custom_predicate(vt_server_factory, make_enricher) -> None:
    server = vt_server_factory({})
    enricher = make_enricher(api_key=TEST_API_KEY, host=server.url, lookup_non_global=True)
    assert list(enricher.enrich(["10.0.0.1"]).frame["source"]) == ["live"]
    assert server.requested_ips() == ["10.0.0.1"]
    picky = Enricher(
        VirusTotalConfig(api_key=TEST_API_KEY, host=server.url),
        enricher.cache_dir / "picky",
        skip_reason=lambda ip: "excluded range" if str(ip).startswith("9.") else None,
    )
    try:
        frame = picky.enrich(["9.9.9.9"]).frame
    finally:
        picky.close()
    assert (frame["source"].iloc[0], frame["error"].iloc[0]) == (
        "skipped",
        "excluded range: not looked up",
    )


def test_two_enrichers_share_one_cache_dir(vt_server: VTServer, make_enricher) -> None:
    first = make_enricher(api_key=TEST_API_KEY, host=vt_server.url)
    second = make_enricher(api_key=TEST_API_KEY, host=vt_server.url)
    ips = [*REPORTED, "1.2.3.4", "5.6.7.8"]
    results = {}
    threads = [
        threading.Thread(target=lambda e=e, n=n: results.__setitem__(n, e.enrich(ips)))
        for n, e in (("a", first), ("b", second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {r.frame["error"].isna().sum() for r in results.values()} == {2}
    assert first.status()["quota_used_today"] == len(vt_server.requests)
    assert set(sources(first.enrich(ips)).values()) == {"cache"}


def test_vtserver_runs_standalone(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps(MINIMAL), encoding="utf-8")
    script = Path(__file__).with_name("vtserver.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--reports", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = line.split(" at ")[1].split()[0]
        request = urllib.request.Request(
            url + "/api/v3/ip_addresses/194.61.24.102", headers={"x-apikey": TEST_API_KEY}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["data"]["id"] == "194.61.24.102"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_key_from_a_key_file(vt_server: VTServer, make_enricher, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("VT_API_KEY", raising=False)
    key_file = tmp_path / "vt.key"
    key_file.write_text(TEST_API_KEY + "\n")
    enricher = make_enricher(api_key_file=str(key_file), host=vt_server.url)
    assert enricher.mode == "live"
    assert sources(enricher.enrich(["8.8.8.8"])) == {"8.8.8.8": "live"}
    assert TEST_API_KEY not in json.dumps(enricher.status())


def test_unreadable_key_file_is_one_clear_error(make_enricher, monkeypatch, tmp_path) -> None:
    from jupyter_sauce.errors import InputError

    monkeypatch.delenv("VT_API_KEY", raising=False)
    enricher = make_enricher(api_key_file=str(tmp_path / "missing.key"))
    with pytest.raises(InputError, match="key file .* cannot be read"):
        enricher.enrich(["8.8.8.8"])
    # the status (the server's GET /status) reports it instead of failing
    status = enricher.status()
    assert status["mode"] == "offline" and "cannot be read" in status["key_problem"]


def test_reports_with_numbers_out_of_range_enrich_with_nulls(make_enricher, tmp_path) -> None:
    """Bug: NaN, 1e30 or a date in the year 3,170,843 in a saved report crashed every
    enrichment of that address (the bad report stayed on disk)."""
    reports = tmp_path / "reports"
    reports.mkdir()
    odd = {
        "8.8.4.4": {"reputation": float("nan"), "last_analysis_stats": {"malicious": 2}},
        "1.1.1.1": {"reputation": 10**30, "last_analysis_date": 99999999999999},
        "9.9.9.9": {"asn": float("inf"), "last_analysis_date": -5, "reputation": -3},
    }
    for ip, attributes in odd.items():
        body = {"data": {"type": "ip_address", "id": ip, "attributes": attributes}}
        (reports / f"{ip}.json").write_text(json.dumps(body))  # NaN/Infinity as Python writes
    frame = make_enricher(reports_dir=str(reports)).enrich(list(odd)).frame.set_index("ip")
    assert set(frame["source"]) == {"offline"}
    assert pd.isna(frame.loc["8.8.4.4", "reputation"]) and frame.loc["8.8.4.4", "malicious"] == 2
    assert pd.isna(frame.loc["1.1.1.1", "reputation"])
    assert pd.isna(frame.loc["1.1.1.1", "last_analysis_date"])
    assert pd.isna(frame.loc["9.9.9.9", "asn"]) and pd.isna(
        frame.loc["9.9.9.9", "last_analysis_date"]
    )
    assert frame.loc["9.9.9.9", "reputation"] == -3


KEY_FILE_PROBE = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # a runaway read fails fast
from jupyter_sauce.config import VirusTotalConfig
from jupyter_sauce.errors import InputError
try:
    VirusTotalConfig(api_key="", api_key_file=sys.argv[1]).resolved_api_key()
except InputError as exc:
    print(exc.message)
"""


def test_key_file_that_is_no_small_regular_file_is_refused_unread(
    make_enricher, monkeypatch, tmp_path
) -> None:
    """Bug: api_key_file=/dev/zero (or a FIFO, or a huge file) was read without limit:
    memory ran away and the process was killed (a FIFO blocked for ever)."""
    import os

    fifo = tmp_path / "vt.fifo"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.key"
    with huge.open("wb") as file:
        file.truncate(10 * 1024**3)  # sparse: 10 GB of NULs, no disk used
    long = tmp_path / "long.key"
    long.write_text("k" * 5000)

    def probe(path: str) -> str:
        """The message, from a child with 1 GB of address space and a timeout (without the
        fix it fails, instead of eating the memory or blocking the test run)."""
        done = subprocess.run(
            [sys.executable, "-c", KEY_FILE_PROBE, path],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "VT_API_KEY": ""},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    def setting(path: str) -> str:
        return f"The VirusTotal key file {path!r} (VirusTotalConfig.api_key_file)"

    assert [probe(p) for p in ("/dev/zero", str(fifo), str(huge), str(long))] == [
        f"{setting('/dev/zero')} is not a regular file; it should hold the key.",
        f"{setting(str(fifo))} is not a regular file; it should hold the key.",
        f"{setting(str(huge))} is larger than 4096 bytes; it should hold only the key.",
        f"{setting(str(long))} is larger than 4096 bytes; it should hold only the key.",
    ]
    # the enricher refuses it the same way, before any lookup
    from jupyter_sauce.errors import InputError

    monkeypatch.delenv("VT_API_KEY", raising=False)
    enricher = make_enricher(api_key_file=str(fifo))
    with pytest.raises(InputError) as info:
        enricher.enrich(["8.8.8.8"])
    assert (
        info.value.message == f"{setting(str(fifo))} is not a regular file; it should hold the key."
    )
    assert enricher.status()["key_problem"] == info.value.message
    assert enricher.status()["mode"] == "offline"


@pytest.mark.parametrize(
    ("where", "secret", "message"),
    [
        ("env", "SECRET\nKEY", "The VirusTotal key from VT_API_KEY contains"),
        ("config", "SECRET\x00KEY", "The VirusTotal key from VirusTotalConfig.api_key contains"),
        ("file", "SECRET\nKEY\n", "The VirusTotal key from the key file {file!r} "
         "(VirusTotalConfig.api_key_file) contains"),
        ("file", "SECRET\r\nKEY", "The VirusTotal key from the key file {file!r} "
         "(VirusTotalConfig.api_key_file) contains"),
    ],
    ids=["env-newline", "config-nul", "file-two-lines", "file-crlf-inside"],
)  # fmt: skip
def test_key_with_a_line_break_inside_is_refused_before_any_request(
    vt_server_factory, make_enricher, monkeypatch, tmp_path, where, secret, message
) -> None:
    """Bug: VT_API_KEY=$'SECRET\\nKEY' (or a two-line key file) was sent: every IP got
    "VirusTotal gave an unusable answer for 8.8.8.8: Forbidden control character detected
    in headers..." (aiohttp's text, blaming the answer), each attempt counted as quota."""
    from jupyter_sauce.errors import InputError

    server = vt_server_factory({"194.61.24.102": MINIMAL})
    key_file = tmp_path / "vt.key"
    traits: dict = {"host": server.url}
    monkeypatch.delenv("VT_API_KEY", raising=False)
    if where == "env":
        monkeypatch.setenv("VT_API_KEY", secret)
    elif where == "config":
        traits["api_key"] = secret
    else:
        key_file.write_text(secret, newline="")
        traits["api_key_file"] = str(key_file)
    enricher = make_enricher(**traits)
    with pytest.raises(InputError) as info:
        enricher.enrich(["194.61.24.102", "8.8.8.8"])
    expected = message.format(file=str(key_file)) + " a line break or control character."
    assert info.value.message == expected
    assert "SECRET" not in info.value.message and "KEY\n" not in info.value.message
    status = enricher.status()
    assert (status["mode"], status["key_problem"]) == ("offline", expected)
    assert (server.requests, status["quota_used_today"]) == ([], 0)  # nothing sent or counted


def test_key_file_with_surrounding_whitespace_still_works(
    vt_server_factory, make_enricher, monkeypatch, tmp_path
) -> None:
    monkeypatch.delenv("VT_API_KEY", raising=False)
    server = vt_server_factory({"194.61.24.102": MINIMAL})
    key_file = tmp_path / "vt.key"
    key_file.write_bytes(b"\xef\xbb\xbf  " + TEST_API_KEY.encode() + b" \r\n\r\n")  # BOM, CRLF
    enricher = make_enricher(api_key_file=str(key_file), host=server.url)
    assert sources(enricher.enrich(["194.61.24.102"])) == {"194.61.24.102": "live"}
    assert [r.key_ok for r in server.requests] == [True]


def test_connection_refused_is_one_sentence_in_the_error_column_and_a_notice(
    make_enricher,
) -> None:
    """Bug: the error column held aiohttp's text: "...: Cannot connect to host 127.0.0.1:1
    ssl:default [Connect call failed ('127.0.0.1', 1)]"; the CLI table, which leaves the
    column out, showed source=error with no reason."""
    dead = VTServer({})
    url = dead.url
    dead.stop()  # nothing listens on this port any more
    enricher = make_enricher(api_key=TEST_API_KEY, host=url + "/", timeout=5.0)
    result = enricher.enrich(["1.1.1.1", "1.0.0.1"])
    sentence = f"VirusTotal could not be reached at {url} (connection refused)."
    assert list(result.frame["source"]) == ["error", "error"]
    assert list(result.frame["error"]) == [sentence, sentence]
    assert result.notices == [f"2 live lookup(s) failed, the first: {sentence}"]


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("not a url", "VirusTotalConfig.host 'not a url' is not an http(s) URL."),
        ("ftp://example.org", "VirusTotalConfig.host 'ftp://example.org' is not an http(s) URL."),
        ("http://", "VirusTotalConfig.host 'http://' is not an http(s) URL."),
        ("http://127.0.0.1:99999", "VirusTotalConfig.host 'http://127.0.0.1:99999' is not an "
         "http(s) URL."),
        ("https://x.org/?a=1", "VirusTotalConfig.host 'https://x.org/?a=1' must be a base URL, "
         "without '?' or '#'."),
    ],
)  # fmt: skip
def test_host_that_is_not_a_url_is_one_input_error_up_front(
    make_enricher, tmp_path, host, message
) -> None:
    """Bug: host='not a url' gave every IP the error "VirusTotal could not be reached for
    8.8.8.8: not%20a%20url/api/v3/ip_addresses/8.8.8.8" (aiohttp's text), counted as quota."""
    from jupyter_sauce.errors import InputError

    enricher = make_enricher(api_key=TEST_API_KEY, host=host)
    with pytest.raises(InputError) as info:
        enricher.enrich(["8.8.8.8", "1.1.1.1"])
    assert info.value.message == message
    status = enricher.status()
    assert (status["key_problem"], status["quota_used_today"]) == (message, 0)
    # without a key the host is never used: offline enrichment is not held up by it
    offline = make_enricher(cache_dir=tmp_path / "offline", api_key="", host=host)
    assert sources(offline.enrich(["8.8.8.8"])) == {"8.8.8.8": "none"}


def test_answers_that_are_not_virustotal_ones_are_one_sentence_per_ip(
    vt_server_factory, make_enricher, monkeypatch
) -> None:
    """Bug: a JSON list as a 404 body crashed the whole enrichment (vt-py's AttributeError),
    an HTML page gave aiohttp's "Attempt to decode JSON with unexpected mimetype" text, and
    an answer nested 100000 deep raised RecursionError ("unexpected RecursionError")."""
    from vtserver import RawAnswer

    server = vt_server_factory({"194.61.24.102": MINIMAL})
    json_type = "application/json"
    server.raw.update(
        {
            "1.0.0.1": RawAnswer(404, json_type, b"[]"),
            "1.0.0.2": RawAnswer(403, json_type, b'{"error": "no"}'),
            "1.0.0.3": RawAnswer(200, "text/html", b"<html>maintenance</html>"),
            "1.0.0.4": RawAnswer(200, json_type, b"[" * 100000 + b"]" * 100000),
            "1.0.0.5": RawAnswer(502, "text/html", b"<html>\nBad gateway</html>"),
            "1.0.0.6": RawAnswer(
                400,
                json_type,
                b'{"error": {"code": "BadRequestError", "message": "Invalid IP\\naddress."}}',
            ),  # fmt: skip
        }
    )
    # a good answer after every two bad ones, so the lookups never stop (3 failures in a row)
    ips = ["1.0.0.1", "1.0.0.2", "194.61.24.102", "1.0.0.3", "1.0.0.4", "9.9.9.9", "1.0.0.5"]
    ips += ["1.0.0.6", "9.9.9.10", "1.0.0.7"]
    big = json.dumps(MINIMAL).encode() + b" " * 300_000  # a valid report, but too large
    server.raw["1.0.0.7"] = RawAnswer(200, json_type, big)
    monkeypatch.setattr("jupyter_sauce.virustotal.client.MAX_ANSWER_BYTES", 250_000)
    result = make_enricher(api_key=TEST_API_KEY, host=server.url).enrich(ips)
    frame = result.frame.set_index("ip")
    assert frame["error"].to_dict() == {
        "1.0.0.1": "VirusTotal answered HTTP 404 for 1.0.0.1.",
        "1.0.0.2": "VirusTotal answered HTTP 403 for 1.0.0.2.",
        "194.61.24.102": None,
        "1.0.0.3": "VirusTotal gave an unusable answer for 1.0.0.3 (not JSON).",
        "1.0.0.4": "VirusTotal gave an unusable answer for 1.0.0.4 (JSON nested too deeply).",
        "9.9.9.9": "not found in VirusTotal",
        "9.9.9.10": "not found in VirusTotal",
        "1.0.0.7": "VirusTotal's answer for 1.0.0.7 is larger than 250000 bytes.",
        "1.0.0.5": "VirusTotal answered HTTP 502 for 1.0.0.5.",
        "1.0.0.6": "VirusTotal lookup of 1.0.0.6 failed (BadRequestError: Invalid IP address).",
    }
    assert frame["source"].to_dict() == {
        **dict.fromkeys(ips, "error"),
        "194.61.24.102": "live",
        "9.9.9.9": "live",
        "9.9.9.10": "live",
    }
    assert result.notices == [
        "7 live lookup(s) failed, the first: VirusTotal answered HTTP 404 for 1.0.0.1."
    ]


def test_zone_id_is_a_per_row_error_like_any_non_address(make_enricher, tmp_path) -> None:
    """Bug: "fe80::1%eth0" among other IPs made the whole enrich() raise AddressError,
    while "not-ip" got a per-row error."""
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "r.json").write_text(json.dumps(MINIMAL))
    enricher = make_enricher(api_key="", reports_dir=str(reports))
    result = enricher.enrich(["194.61.24.102", "fe80::1%eth0", "not-ip", " 8.8.8.8%1 "])
    rows = result.frame[["ip", "source", "error"]].astype(object).to_dict("records")
    assert rows == [
        {"ip": "194.61.24.102", "source": "offline", "error": None},
        {"ip": "fe80::1%eth0", "source": "error",
         "error": "not an IP address (zone ids are not supported)"},
        {"ip": "not-ip", "source": "error", "error": "not an IP address"},
        {"ip": "8.8.8.8%1", "source": "error",
         "error": "not an IP address (zone ids are not supported)"},
    ]  # fmt: skip


def test_every_source_value_is_documented() -> None:
    """The spec listed cache/offline/live/none/error; ``skipped`` (non-global addresses)
    was in the code only."""
    from jupyter_sauce.virustotal import SOURCES, enrich

    assert SOURCES == ("cache", "offline", "live", "none", "error", "skipped")
    meanings = enrich.__doc__.split("Every row's ``source`` is one of")[1]
    for source in SOURCES:
        assert f"``{source}``" in meanings
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### VirusTotal", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    for source in SOURCES:
        assert f"`{source}`" in section


def test_only_requests_virustotal_answered_count_against_the_quota(
    vt_server_factory, make_enricher
) -> None:
    """Bug: with VirusTotal unreachable every failed attempt was recorded, so status showed
    quota_used_today: 9 although no request had reached VirusTotal."""
    dead = VTServer({})
    url = dead.url
    dead.stop()  # nothing listens on this port any more: connection refused
    offline = make_enricher(api_key=TEST_API_KEY, host=url, timeout=5.0)
    result = offline.enrich(["1.2.3.4"])
    assert list(result.frame["source"]) == ["error"]
    assert list(result.frame["error"]) == [
        f"VirusTotal could not be reached at {url} (connection refused)."
    ]
    assert result.quota["used_today"] == 0 and result.requests_made == 0
    assert offline.status()["quota_used_today"] == 0

    server = vt_server_factory({}, quota_after=1)  # 404, then 429
    online = make_enricher(api_key=TEST_API_KEY, host=server.url)  # the same cache dir
    result = online.enrich(["1.2.3.4"])
    assert [r.status for r in server.requests] == [404]
    assert list(result.frame["source"]) == ["live"]
    assert list(result.frame["error"]) == ["not found in VirusTotal"]
    assert result.quota["used_today"] == 1 and result.requests_made == 1
    result = online.enrich(["1.0.0.1"])
    assert [r.status for r in server.requests] == [404, 429]
    assert result.quota["used_today"] == 2 and result.requests_made == 1

    wrong_key = make_enricher(api_key="0123456789abcdef-wrong-key", host=server.url)
    with pytest.raises(CredentialsError):
        wrong_key.enrich(["9.9.9.9"])
    assert [r.status for r in server.requests] == [404, 429, 401]
    assert offline.status()["quota_used_today"] == 3  # 404, 429, 401: all answered
