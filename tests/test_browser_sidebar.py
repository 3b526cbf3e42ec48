"""End-to-end: the JupyterLab sidebar panel (labextension/) over the REST API, in Chromium.

The project's own demo capture and starter rules (no corpus needed), VirusTotal through
the local VirusTotal-compatible test server. Skipped with a reason when Chromium,
Suricata or the built panel is absent.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_browser import chromium, running_lab, shot
from vtserver import TEST_API_KEY, VT_CORPUS, VTServer

from jupyter_sauce.demo import write_demo_capture

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

PANEL_BUILD = Path(__file__).resolve().parents[1] / "jupyter_sauce" / "labextension"
ATTACKER, DC, C2 = "194.61.24.102", "10.42.85.10", "203.78.103.109"
NMAP_RULE = "SAUCE SCAN Nmap Scripting Engine or Nmap User-Agent"
TIMEOUT = 120_000


def _require() -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Chromium not found at /usr/bin/chromium (apt-get install chromium)")
    if shutil.which("suricata") is None:
        pytest.skip("Suricata not installed")
    if not (PANEL_BUILD / "package.json").is_file():
        pytest.skip("the sidebar panel is not built (bash scripts/setup.sh runs npm)")


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
    base = tmp_path_factory.mktemp("sidebar")
    config = {
        "StoreConfig": {"store_dir": str(base / "store")},
        "RulesConfig": {"rules": "starter"},
        "SuricataConfig": {"home_net": "10.42.0.0/16"},
        "VirusTotalConfig": {"host": vt.url, "api_key": TEST_API_KEY},
    }
    with running_lab(base, config) as server:
        cases = server.work / "cases"
        cases.mkdir()
        write_demo_capture(cases / "szechuan demo.pcap")
        (cases / "notes.pcap").write_text("These are my notes, not a packet capture.\n")
        yield server
    assert not server.leftover_pids(), "processes of the lab are still running"


@pytest.fixture
def page(lab, request):
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1600})
        page = context.new_page()
        try:
            page.goto(f"{lab.url}/lab?reset&token={lab.token}")
            page.locator("[data-id='jupyter-sauce-panel']").click(timeout=TIMEOUT)
            page.locator(".jp-SaucePanel").wait_for(timeout=TIMEOUT)
            yield page
        finally:
            shot(page, f"sidebar-{request.node.name}")
            context.close()


def _capture(page, path: str):
    item = page.locator(f".jp-sauce-capture[data-path='{path}']")
    item.wait_for(timeout=30_000)
    return item


def _iocs(page) -> dict[str, str]:
    rows = page.locator(".jp-sauce-iocs tr[data-ip]")
    return {
        rows.nth(i).get_attribute("data-ip"): rows.nth(i).inner_text() for i in range(rows.count())
    }


def test_sidebar_analyses_filters_and_enriches(lab, page, vt) -> None:
    panel = page.locator(".jp-SaucePanel")
    status = panel.locator(".jp-sauce-status")
    page.wait_for_function(
        "() => /Suricata 7/.test(document.querySelector('.jp-sauce-status').textContent)"
    )
    assert "starter" in status.inner_text()
    assert "VirusTotal live" in status.inner_text()
    run = panel.locator(".jp-sauce-run")
    assert run.is_disabled()  # nothing picked yet
    _capture(page, "cases/szechuan demo.pcap").click()
    assert run.is_enabled()
    run.click()
    panel.locator(".jp-sauce-results").wait_for(state="visible", timeout=TIMEOUT)
    summary = panel.locator(".jp-sauce-summary").inner_text()
    assert "HOME_NET 10.42.0.0/16" in summary
    signatures = panel.locator(".jp-sauce-signatures").inner_text()
    assert NMAP_RULE in signatures
    iocs = _iocs(page)
    assert {ATTACKER, DC, C2} <= set(iocs)
    assert "global" in iocs[ATTACKER] and "private" in iocs[DC]
    link = page.locator(f".jp-sauce-iocs tr[data-ip='{ATTACKER}'] a.jp-sauce-vt-link")
    assert link.get_attribute("href") == f"https://www.virustotal.com/gui/ip-address/{ATTACKER}"
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in link.get_attribute("rel")
    assert page.locator(f".jp-sauce-iocs tr[data-ip='{DC}'] a").count() == 0  # private: no link

    # a bad range token is named and marked; the tables stay as they were
    ranges = panel.locator(".jp-sauce-ranges")
    ranges.locator("input[name=exclude_src]").fill("194.61.24.0/24, nonsense")
    ranges.locator(".jp-sauce-apply").click()
    error = panel.locator(".jp-sauce-range-error")
    page.wait_for_function(
        "() => document.querySelector('.jp-sauce-range-error').textContent !== ''"
    )
    assert "nonsense" in error.inner_text()
    assert "jp-mod-invalid" in ranges.locator("input[name=exclude_src]").get_attribute("class")
    assert NMAP_RULE in panel.locator(".jp-sauce-signatures").inner_text()

    # a good one drops the attacker's alerts (served by the REST API, Suricata not re-run)
    ranges.locator("input[name=exclude_src]").fill("194.61.24.0/24")
    ranges.locator("input[name=exclude_src]").press("Enter")
    page.wait_for_function(
        "() => /after the ranges/.test(document.querySelector('.jp-sauce-summary').textContent)"
    )
    assert error.inner_text() == ""
    assert NMAP_RULE not in panel.locator(".jp-sauce-signatures").inner_text()
    ranges.locator("input[name=exclude_src]").fill("")
    ranges.locator(".jp-sauce-apply").click()
    page.wait_for_function(
        "rule => document.querySelector('.jp-sauce-signatures').textContent.includes(rule)",
        arg=NMAP_RULE,
    )

    # VirusTotal: only global addresses go to the (local) VirusTotal-compatible server
    vt.reset()
    panel.locator(".jp-sauce-enrich").click()
    page.wait_for_function(
        "() => /VirusTotal live/.test(document.querySelector('.jp-sauce-intel').textContent)",
        timeout=60_000,
    )
    looked_up = set(vt.requested_ips())
    assert ATTACKER in looked_up and C2 in looked_up
    assert DC not in looked_up
    verdict = page.locator(f".jp-sauce-iocs tr[data-ip='{ATTACKER}'] .jp-sauce-verdict")
    assert "not found in VirusTotal" in verdict.inner_text()
    assert TEST_API_KEY not in page.content()
    shot(page, "sidebar-enriched")

    # hosts toggle: every host of the capture, with flow counts
    panel.locator(".jp-sauce-hosts").check()
    page.wait_for_function(
        "() => /Flows/.test(document.querySelector('.jp-sauce-iocs').textContent)"
    )
    assert {ATTACKER, DC, C2} <= set(_iocs(page))


def test_sidebar_error_line_and_notebook(lab, page) -> None:
    panel = page.locator(".jp-SaucePanel")
    _capture(page, "cases/notes.pcap").click()
    panel.locator(".jp-sauce-run").click()
    error = panel.locator(".jp-sauce-error").first
    page.wait_for_function("() => document.querySelector('.jp-sauce-error').textContent !== ''")
    message = error.inner_text()
    assert "notes.pcap" in message and "text file" in message
    assert "Traceback" not in panel.inner_text()
    assert panel.locator(".jp-sauce-run").is_enabled()  # still usable

    # "Open in notebook" writes a notebook beside the capture that opens the CaseWidget
    _capture(page, "cases/szechuan demo.pcap").click()
    panel.locator(".jp-sauce-notebook").click()
    notebook = lab.work / "cases" / "szechuan demo.sauce.ipynb"
    page.locator(".jp-NotebookPanel").first.wait_for(timeout=TIMEOUT)
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget && "
        "window.jupyterapp.shell.currentWidget.context.path === 'cases/szechuan demo.sauce.ipynb'"
    )
    cells = json.loads(notebook.read_text())["cells"]
    code = "".join(cells[1]["source"])
    assert code == '%load_ext jupyter_sauce\n%sauce "szechuan demo.pcap"'
