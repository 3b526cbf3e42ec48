"""End-to-end: %load_ext jupyter_sauce + %sauce in a real JupyterLab, driven in Chromium.

Screenshots go to ``artifacts/`` (git-ignored; ``SAUCE_ARTIFACTS`` overrides); each
path is printed. Skipped with a reason when Chromium, Suricata or the corpus is absent.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CORPUS, ET_OPEN, PCAPS
from jupyter_browser import chromium, open_and_run, running_lab, shot, write_notebook
from vtserver import TEST_API_KEY, VT_CORPUS, VTServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

NMAP = PCAPS / "esnet-curated" / "nmap_80_all.pcap"
MASSCAN = PCAPS / "esnet-curated" / "masscan_tcp_0_1000_20190821.pcap"
NMAP_SIGNATURE = "ET SCAN Possible Nmap User-Agent Observed"
SRC, DST = "10.87.1.10", "130.211.223.103"
TIMEOUT = 180_000  # ms: the first run loads ~20k ET Open rules (15-25 s here)


def _require() -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Chromium not found at /usr/bin/chromium (apt-get install chromium)")
    if shutil.which("suricata") is None:
        pytest.skip("Suricata not installed")
    if not (NMAP.is_file() and ET_OPEN.is_dir()):
        pytest.skip(f"corpus not found at {CORPUS} (set SAUCE_CORPUS)")


@pytest.fixture(scope="module")
def vt() -> Iterator[VTServer]:
    server = VTServer(VT_CORPUS if VT_CORPUS.is_dir() else None).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, vt):
    _require()
    base = tmp_path_factory.mktemp("lab")
    config = {
        "StoreConfig": {"store_dir": str(base / "store")},
        "RulesConfig": {"rules": str(ET_OPEN)},
        "VirusTotalConfig": {"host": vt.url, "api_key": TEST_API_KEY},
    }
    with running_lab(base, config) as server:
        yield server
    assert not server.leftover_pids(), "processes of the lab are still running"


@pytest.fixture(scope="module")
def browser(lab):
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    page = context.new_page()
    try:
        yield page
    finally:
        shot(page, f"last-{request.node.name}")  # the state at the end, pass or fail
        context.close()


def _grid(page):
    return page.locator("perspective-viewer").first


def test_nmap_flow(lab, page, vt) -> None:
    write_notebook(lab.work / "nmap.ipynb", ["%load_ext jupyter_sauce", f"%sauce {NMAP}"])
    open_and_run(page, lab, "nmap.ipynb")
    run = page.get_by_test_id("sauce-run")
    run.wait_for(timeout=TIMEOUT)
    assert "nmap_80_all.pcap" in page.get_by_test_id("sauce-selected").inner_text()
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=sauce-run]').disabled", timeout=TIMEOUT
    )
    shot(page, "nmap-1-picked")
    run.click()
    # rows in the grid: the Nmap signature and both addresses
    _grid(page).get_by_text(NMAP_SIGNATURE).first.wait_for(timeout=TIMEOUT)
    _grid(page).get_by_text(SRC).first.wait_for(timeout=10_000)
    _grid(page).get_by_text(DST).first.wait_for(timeout=10_000)
    status = page.get_by_test_id("sauce-status")
    assert "28 alerts" in status.inner_text()
    page.get_by_test_id("sauce-iocs").get_by_text(DST).wait_for(timeout=30_000)
    shot(page, "nmap-2-alerts")

    # a bad token is named and the table is left untouched
    page.get_by_test_id("sauce-exclude_src").fill("10.87.0.0/16, not-a-range")
    page.get_by_test_id("sauce-apply").click()
    error = page.get_by_test_id("sauce-exclude_src-error")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=sauce-exclude_src-error]').textContent !== ''"
    )
    assert "not-a-range" in error.inner_text()
    assert "28 alerts" in status.inner_text()
    assert _grid(page).get_by_text(NMAP_SIGNATURE).first.is_visible()
    shot(page, "nmap-3-bad-range")

    # a valid exclude range changes the grid, without running Suricata again
    page.get_by_test_id("sauce-exclude_src").fill("10.87.0.0/16")
    page.get_by_test_id("sauce-apply").click()
    page.wait_for_function(
        "() => /0 of 28 alerts/.test("
        "document.querySelector('[data-testid=sauce-status]').textContent)",
        timeout=30_000,
    )
    assert error.inner_text() == ""
    _grid(page).get_by_text(NMAP_SIGNATURE).first.wait_for(state="detached", timeout=30_000)
    shot(page, "nmap-4-excluded")

    page.get_by_test_id("sauce-exclude_src").fill("")
    page.get_by_test_id("sauce-apply").click()
    _grid(page).get_by_text(NMAP_SIGNATURE).first.wait_for(timeout=30_000)

    # VirusTotal against the local test server: only the global address is looked up
    vt.reset()
    vt_button = page.get_by_test_id("sauce-vt")
    assert "enrich 1 global IP" in vt_button.inner_text()
    vt_button.click()
    row = page.locator(f"[data-testid=sauce-iocs] tr[data-ip='{DST}']")
    # the VirusTotal columns of the row are filled once the lookups are done
    page.wait_for_function(
        "ip => /not found in VirusTotal/.test(document.querySelector("
        "`[data-testid=sauce-iocs] tr[data-ip='${ip}']`).textContent)",
        arg=DST,
        timeout=60_000,
    )
    row_text = row.inner_text()
    assert "not found in VirusTotal" in row_text, row_text
    assert vt.requested_ips() == [DST]
    assert "live lookups" in page.get_by_test_id("sauce-vt-status").inner_text()
    link = page.locator(f"[data-testid=sauce-iocs] tr[data-ip='{DST}'] a.sauce-vt-link")
    assert link.get_attribute("href") == f"https://www.virustotal.com/gui/ip-address/{DST}"
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("rel") == "noopener"
    shot(page, "nmap-5-virustotal")

    # clicking an address filters the alerts grid to it
    page.locator(f"button.sauce-ip[data-ip='{DST}']").click()
    chip = page.get_by_test_id("sauce-ip-filter")
    chip.wait_for(timeout=10_000)
    assert DST in chip.inner_text()
    _grid(page).get_by_text(NMAP_SIGNATURE).first.wait_for(timeout=30_000)
    shot(page, "nmap-6-ip-filter")
    page_text = page.locator(".jp-Notebook").inner_text()
    assert "Traceback" not in page_text
    assert TEST_API_KEY not in page.content()


def test_no_alerts_state(lab, page) -> None:
    if not MASSCAN.is_file():
        pytest.skip(f"{MASSCAN} not in the corpus")
    write_notebook(lab.work / "masscan.ipynb", ["%load_ext jupyter_sauce", f"%sauce {MASSCAN}"])
    open_and_run(page, lab, "masscan.ipynb")
    run = page.get_by_test_id("sauce-run")
    run.wait_for(timeout=TIMEOUT)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=sauce-run]').disabled", timeout=TIMEOUT
    )
    run.click()
    empty = page.get_by_test_id("sauce-empty")
    empty.wait_for(timeout=TIMEOUT)
    assert re.search(r"No alerts", empty.inner_text())
    assert page.locator("perspective-viewer").count() == 0
    page.get_by_test_id("sauce-iocs").locator("button.sauce-ip").first.wait_for(timeout=30_000)
    assert "Every host" in page.get_by_test_id("sauce-ioc-scope").inner_text()
    shot(page, "masscan-no-alerts")


def test_not_a_capture_shows_error_line(lab, page) -> None:
    (lab.work / "notes.pcap").write_text("These are my notes, not a packet capture.\n")
    write_notebook(lab.work / "notes.ipynb", ["%load_ext jupyter_sauce", "%sauce notes.pcap"])
    open_and_run(page, lab, "notes.ipynb")
    run = page.get_by_test_id("sauce-run")
    run.wait_for(timeout=TIMEOUT)
    error = page.get_by_test_id("sauce-error").first
    error.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=sauce-run]').disabled", timeout=TIMEOUT
    )
    run.click()
    message = error.locator(".sauce-error-msg").inner_text()
    assert "notes.pcap" in message and "text file" in message
    assert "Traceback" not in page.locator(".jp-Notebook").inner_text()
    # still usable: browsing works after the error
    assert page.get_by_test_id("sauce-files").locator("tr.sauce-capture").count() >= 1
    shot(page, "not-a-capture-error")


def test_notebook7_renders_the_widget(tmp_path_factory, browser) -> None:
    pytest.importorskip("notebook", minversion="7", reason="Notebook 7 (pip install notebook)")
    base = tmp_path_factory.mktemp("nb7")
    config = {
        "StoreConfig": {"store_dir": str(base / "store")},
        "RulesConfig": {"rules": "starter"},
    }
    with running_lab(base, config, app="notebook") as server:
        write_notebook(server.work / "nb7.ipynb", [f"%load_ext jupyter_sauce\n%sauce {NMAP}"])
        context = browser.new_context(viewport={"width": 1400, "height": 1400})
        page = context.new_page()
        try:
            # waits for an idle kernel first: a Shift+Enter before it was lost now and then
            open_and_run(page, server, "nb7.ipynb")
            page.get_by_test_id("sauce-run").wait_for(timeout=TIMEOUT)
            assert "nmap_80_all.pcap" in page.get_by_test_id("sauce-selected").inner_text()
            assert page.get_by_test_id("sauce-files").locator("tr.sauce-capture").count() >= 1
            shot(page, "notebook7-widget")
        finally:
            context.close()
    assert not server.leftover_pids()
