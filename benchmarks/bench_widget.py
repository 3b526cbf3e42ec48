"""Benchmark: time to first rows of a 1,000,000-alert case in the CaseWidget, in a real browser.

Starts JupyterLab in temp dirs and Debian's Chromium, and times opening a stored case of N
synthetic alerts (default 1,000,000) until the alerts grid shows its first rows, two ways:
the usual one (``%sauce capture.pcap``: the widget says the capture was analysed, and the
user clicks "Open stored result" ``--pause`` seconds later; the widget loads the grid
while the notice is read), and with no head start (the case loaded from the click on).
Target: under 3 s. Not a test; run it directly::

    .venv/bin/python benchmarks/bench_widget.py [--alerts N] [--pause S] [--keep]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from jupyter_browser import chromium, running_lab, shot, write_notebook  # noqa: E402
from traitlets.config import Config  # noqa: E402

from jupyter_sauce.demo import place_demo_capture  # noqa: E402
from jupyter_sauce.frames import ALERT_SCHEMA, FLOW_SCHEMA  # noqa: E402
from jupyter_sauce.pipeline import Sauce  # noqa: E402

MARKER = "BENCH SIGNATURE"
IOCS_LISTED = re.compile(r"^Addresses in the [\d,]+ alerts in view")
UTC_MS = re.compile(r"^\d\d/\d\d/\d{4}, \d\d:\d\d:\d\d\.\d{3}$")  # the grid's time format


def synthetic_case(entry: Path, n: int, seed: int = 7, manifest: dict | None = None) -> None:
    """A store-like entry (alerts.parquet, flows.parquet, manifest.json) with ``n`` alerts;
    ``manifest``: a real entry's manifest, kept with the counts and time range changed."""
    rng = np.random.default_rng(seed)
    start = 1_600_000_000.0
    ts = (start + np.sort(rng.uniform(0, 3600, n)) * 1.0) * 1e6
    sigs = np.array([f"BENCH SIGNATURE {i}" for i in range(50)], dtype=object)
    hosts = np.array([f"10.42.{i // 256}.{i % 256}" for i in range(2000)], dtype=object)
    remote = np.array([f"{20 + i % 200}.{i % 251}.{i % 241}.{1 + i % 250}" for i in range(500)],
                      dtype=object)  # fmt: skip
    sig_idx = rng.integers(0, 50, n)
    columns = {
        "timestamp": pa.array(ts.astype("int64"), pa.timestamp("us", tz="UTC")),
        "signature": pa.array(sigs[sig_idx]),
        "signature_id": pa.array(2_000_000 + sig_idx),
        "rev": pa.array(np.ones(n, dtype=np.int64)),
        "gid": pa.array(np.ones(n, dtype=np.int64)),
        "category": pa.array(np.where(sig_idx % 2, "Attempted Recon", "Policy Violation")),
        "severity": pa.array(1 + sig_idx % 3),
        "action": pa.array(np.full(n, "allowed", dtype=object)),
        "proto": pa.array(np.full(n, "TCP", dtype=object)),
        "app_proto": pa.array(np.full(n, "http", dtype=object)),
        "src_ip": pa.array(hosts[rng.integers(0, len(hosts), n)]),
        "src_port": pa.array(rng.integers(1024, 65535, n)),
        "dest_ip": pa.array(remote[rng.integers(0, len(remote), n)]),
        "dest_port": pa.array(np.full(n, 80, dtype=np.int64)),
        "flow_id": pa.array(rng.integers(0, 2**50, n)),
    }
    for name in ALERT_SCHEMA.names:
        if name not in columns:
            columns[name] = pa.nulls(n, pa.string())
    entry.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns).select(ALERT_SCHEMA.names).cast(ALERT_SCHEMA),
                   entry / "alerts.parquet")  # fmt: skip
    pq.write_table(FLOW_SCHEMA.empty_table(), entry / "flows.parquet")
    if manifest is None:
        manifest = {
            "capture": {"name": "bench.pcap"},
            "analysed_at": "2024-05-01T10:00:00+00:00",
            "ruleset": {"location": "synthetic", "rules": 50},
            "options": {"home_net": ["10.0.0.0/8"]},
            "warnings": [], "notices": [],
        }  # fmt: skip
    manifest["capture"].update(first_ts=start, last_ts=start + 3600)
    manifest["counts"] = {**manifest.get("counts", {}), "alerts": n, "flows": 0}
    (entry / "manifest.json").write_text(json.dumps(manifest))


IDLE = (
    "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
    " const k = w && w.sessionContext.session && w.sessionContext.session.kernel;"
    " return k && k.status === 'idle'; }"
)


def open_notebook(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function(IDLE, timeout=120_000)


def run_cell(page, index: int, wait: bool) -> None:
    """Run cell ``index``; with ``wait``, until it has run (else return at once)."""
    page.evaluate(
        "(i) => { const nb = window.jupyterapp.shell.currentWidget;"
        " nb.content.activeCellIndex = i;"
        " window.jupyterapp.commands.execute('notebook:run-cell'); }",
        index,
    )
    if wait:
        page.wait_for_function(
            "(i) => window.jupyterapp.shell.currentWidget.content.widgets[i].model.executionCount",
            arg=index,
            timeout=300_000,
        )


def first_rows(page, start: float, name: str) -> tuple[float, ...]:
    """Seconds from ``start`` until the grid is on the page, its headers, its first rows,
    and the rows as configured (Perspective's widget first draws every column with its
    default formats, then applies the widget's columns and UTC millisecond times)."""
    viewer = page.locator("perspective-viewer").first
    try:
        viewer.wait_for(timeout=120_000)
        on_page = time.perf_counter() - start
        viewer.get_by_text("Timestamp").first.wait_for(timeout=120_000)
        header = time.perf_counter() - start
        viewer.get_by_text(MARKER).first.wait_for(timeout=120_000)
        rows = time.perf_counter() - start
        shot(page, name)
        viewer.get_by_text(UTC_MS).first.wait_for(timeout=120_000)
    finally:
        configured = time.perf_counter() - start
    return on_page, header, rows, configured


def iocs_listed(page, start: float) -> float:
    """Seconds from ``start`` until the IoC table lists the addresses of the alerts."""
    page.get_by_text(IOCS_LISTED).first.wait_for(timeout=120_000)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--pause", type=float, default=15.0,
                        help="seconds between choosing the capture and the click")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sauce-bench-"))
    entry = base / "entry"
    t = time.perf_counter()
    synthetic_case(entry, args.alerts)
    print(f"synthetic case of {args.alerts:,} alerts written in {time.perf_counter() - t:.1f} s")
    config = {
        "StoreConfig": {"store_dir": str(base / "store")},
        "RulesConfig": {"rules": "starter"},
    }
    # 1. no head start: "Open stored result" on a widget with nothing chosen before (the
    #    case is loaded into the grid from the click on)
    setup = (
        "import json, pathlib\n"
        "from jupyter_sauce.pipeline import Case\n"
        "from jupyter_sauce.widget import CaseWidget\n"
        f"entry = pathlib.Path({str(entry)!r})\n"
        "case = Case('bench', entry, json.loads((entry / 'manifest.json').read_text()))\n"
        "_ = len(case.alerts)  # read from Parquet before timing, as a stored case would be\n"
        "w = CaseWidget(root=entry)\n"
        "w"
    )
    show = "w.controller.load_case(case)"
    with running_lab(base / "lab", config) as lab, chromium() as browser:
        # 2. the usual way: the capture is chosen (``%sauce capture.pcap``), the widget says
        #    it was analysed, and the user clicks "Open stored result" some seconds later
        capture = place_demo_capture(lab.work / "bench.pcap")
        store_config = Config()
        store_config.StoreConfig.store_dir = config["StoreConfig"]["store_dir"]
        store_config.RulesConfig.rules = "starter"
        with Sauce(store_config) as sauce:
            stored = sauce.analyze(capture)
        synthetic_case(stored.entry_dir, args.alerts, manifest=stored.manifest)
        write_notebook(lab.work / "cold.ipynb", [setup, show])
        write_notebook(lab.work / "chosen.ipynb", [
            "%load_ext jupyter_sauce", "%sauce bench.pcap"])  # fmt: skip
        context = browser.new_context(viewport={"width": 1400, "height": 1600})
        page = context.new_page()

        open_notebook(page, lab.notebook_url("cold.ipynb"))
        run_cell(page, 0, wait=True)
        t0 = time.perf_counter()
        run_cell(page, 1, wait=False)
        cold = first_rows(page, t0, "bench-first-rows")
        cold_iocs = iocs_listed(page, t0)
        shot(page, "bench-1m-alerts")
        status = page.get_by_test_id("sauce-status").inner_text()

        page = context.new_page()
        open_notebook(page, lab.notebook_url("chosen.ipynb"))
        run_cell(page, 0, wait=True)
        run_cell(page, 1, wait=True)
        button = page.get_by_role("button", name="Open stored result")
        button.wait_for(timeout=120_000)
        time.sleep(args.pause)
        t0 = time.perf_counter()
        button.click()
        chosen = first_rows(page, t0, "bench-first-rows-chosen")
        chosen_iocs = iocs_listed(page, t0)
        chosen_status = page.get_by_test_id("sauce-status").inner_text()
    print(f"status lines: {status!r} / {chosen_status!r}")
    print(f"time to first rows for {args.alerts:,} alerts (target < 3 s):")
    print(f"  capture chosen, 'Open stored result' clicked {args.pause:.0f} s later: "
          f"{chosen[2]:.2f} s (grid on the page {chosen[0]:.2f} s, headers {chosen[1]:.2f} s, "
          f"as configured {chosen[3]:.2f} s, IoCs listed {chosen_iocs:.2f} s)")  # fmt: skip
    print(f"  no head start (the case loaded from the click on): {cold[2]:.2f} s "
          f"(grid on the page {cold[0]:.2f} s, headers {cold[1]:.2f} s, "
          f"as configured {cold[3]:.2f} s, IoCs listed {cold_iocs:.2f} s)")  # fmt: skip
    if not args.keep:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
