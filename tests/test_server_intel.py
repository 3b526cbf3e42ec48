"""POST /intel with a real server and no VirusTotal key: offline reports (the corpus's,
imported into the reports dir), per-address errors, the max_intel_ips limit."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.register_assert_rewrite("server_helpers")

from server_helpers import (  # noqa: E402
    VT_CORPUS,
    VT_REPORT,
    assert_error,
    body,
    call,
    check_openapi,
)

pytest_plugins = ("pytest_jupyter.jupyter_server", "server_helpers")

needs_vt_corpus = pytest.mark.skipif(
    not VT_REPORT.is_file(),
    reason=f"VirusTotal corpus reports not found under {VT_CORPUS} (set SAUCE_CORPUS)",
)


async def intel(jp_fetch: Any, ips: list[str]) -> Any:
    response = await call(jp_fetch, "POST", "intel", body=json.dumps({"ips": ips}))
    check_openapi("POST", "/intel", response)
    return response


def rows_by_ip(response: Any) -> dict[str, dict[str, Any]]:
    assert response.code == 200, response.body
    return {row["ip"]: row for row in body(response)["rows"]}


@needs_vt_corpus
async def test_offline_reports_without_a_key(jp_fetch: Any, sauce_app: Any) -> None:
    enricher = sauce_app.sauce.enricher
    loaded = enricher.import_reports(VT_CORPUS)
    assert "138.128.150.133" in loaded.reports
    assert (enricher.reports_dir / "138.128.150.133.json").is_file()
    ips = ["138.128.150.133", "10.42.85.10", "1.1.1.1", "not-ip", "138.128.150.133"]
    response = await intel(jp_fetch, ips)
    rows = rows_by_ip(response)
    assert list(rows) == ["138.128.150.133", "10.42.85.10", "1.1.1.1", "not-ip"]
    reported = rows["138.128.150.133"]
    assert {k: reported[k] for k in ("source", "malicious", "suspicious", "harmless")} == {
        "source": "offline",
        "malicious": 4,
        "suspicious": 0,
        "harmless": 77,
    }
    assert (reported["undetected"], reported["reputation"]) == (12, 1)
    assert (reported["as_owner"], reported["asn"], reported["country"]) == (
        "CLOUD-SOUTH",
        13886,
        "GB",
    )
    assert reported["error"] is None
    assert reported["link"] == "https://www.virustotal.com/gui/ip-address/138.128.150.133"
    assert (rows["10.42.85.10"]["source"], rows["10.42.85.10"]["error"]) == (
        "skipped",
        "private address: not looked up",
    )
    assert (rows["1.1.1.1"]["source"], rows["1.1.1.1"]["malicious"]) == ("none", None)
    assert (rows["not-ip"]["source"], rows["not-ip"]["error"]) == ("error", "not an IP address")
    result = body(response)
    assert result["mode"] == "offline" and result["requests_made"] == 0
    assert result["cancelled"] is False and result["not_found"] == []
    assert "No VirusTotal API key: offline reports only." in result["notices"]
    assert "1 address(es) have no offline report." in result["notices"]


async def test_zone_id_is_a_row_error_like_any_non_address(jp_fetch: Any) -> None:
    """Bug: one address with a zone id made the whole request a 400 AddressError with
    field null; it is an item that is not an IP address, so its row says so."""
    rows = rows_by_ip(await intel(jp_fetch, ["8.8.8.8", "fe80::1%eth0", "not-ip"]))
    assert list(rows) == ["8.8.8.8", "fe80::1%eth0", "not-ip"]
    assert (rows["8.8.8.8"]["source"], rows["8.8.8.8"]["error"]) == ("none", None)
    assert (rows["fe80::1%eth0"]["source"], rows["fe80::1%eth0"]["error"]) == (
        "error",
        "not an IP address (zone ids are not supported)",
    )
    assert (rows["not-ip"]["source"], rows["not-ip"]["error"]) == ("error", "not an IP address")
    assert rows["fe80::1%eth0"]["link"] is None


@pytest.mark.parametrize("sauce_settings", [{"SauceApp": {"max_intel_ips": 2}}])
async def test_max_intel_ips(jp_fetch: Any, sauce_app: Any) -> None:
    assert sauce_app.max_intel_ips == 2
    error = assert_error(await intel(jp_fetch, ["8.8.8.8", "1.1.1.1", "9.9.9.9"]), 400)
    assert (error["code"], error["field"], error["message"]) == (
        "FieldError",
        "ips",
        "At most 2 addresses per request.",
    )
    assert list(rows_by_ip(await intel(jp_fetch, ["8.8.8.8", "1.1.1.1"]))) == ["8.8.8.8", "1.1.1.1"]
