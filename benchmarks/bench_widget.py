"""Benchmark: time to first rows of a 1,000,000-alert case in the CaseWidget, in a real browser.

Starts JupyterLab in temp dirs, opens a notebook in Debian's Chromium with a CaseWidget on
the page, and times opening a stored case of N synthetic alerts (default 1,000,000) in it
until the alerts grid shows its first rows. Target: under 3 s. Not a test; run it directly::

    .venv/bin/python benchmarks/bench_widget.py [--alerts N] [--keep]
"""

from __future__ import annotations

import argparse
import json
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

from jupyter_sauce.frames import ALERT_SCHEMA, FLOW_SCHEMA  # noqa: E402

MARKER = "BENCH SIGNATURE"


def synthetic_case(entry: Path, n: int, seed: int = 7) -> None:
    """A store-like entry (alerts.parquet, flows.parquet, manifest.json) with ``n`` alerts."""
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
    manifest = {
        "capture": {"name": "bench.pcap", "first_ts": start, "last_ts": start + 3600},
        "analysed_at": "2024-05-01T10:00:00+00:00",
        "ruleset": {"location": "synthetic", "rules": 50},
        "options": {"home_net": ["10.0.0.0/8"]},
        "counts": {"alerts": n, "flows": 0},
        "warnings": [], "notices": [],
    }  # fmt: skip
    (entry / "manifest.json").write_text(json.dumps(manifest))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sauce-bench-"))
    entry = base / "entry"
    t = time.perf_counter()
    synthetic_case(entry, args.alerts)
    print(f"synthetic case of {args.alerts:,} alerts written in {time.perf_counter() - t:.1f} s")
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
    # what "Open stored result" does on a widget on the page, from the click on
    show = "w.controller.load_case(case)"
    config = {
        "StoreConfig": {"store_dir": str(base / "store")},
        "RulesConfig": {"rules": "starter"},
    }
    with running_lab(base / "lab", config) as lab, chromium() as browser:
        write_notebook(lab.work / "bench.ipynb", [setup, show])
        page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
        page.goto(lab.notebook_url("bench.ipynb"))
        page.wait_for_function(
            "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext.session && w.sessionContext.session.kernel;"
            " return k && k.status === 'idle'; }",
            timeout=120_000,
        )
        # run the setup cell, wait until the kernel is idle again
        page.evaluate(
            "async () => { const nb = window.jupyterapp.shell.currentWidget;"
            " nb.content.activeCellIndex = 0;"
            " await window.jupyterapp.commands.execute('notebook:run-cell'); }"
        )
        page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.content.widgets[0].model.executionCount",
            timeout=300_000,
        )
        page.evaluate(
            "() => { const nb = window.jupyterapp.shell.currentWidget;"
            " nb.content.activeCellIndex = 1; }"
        )
        t0 = time.perf_counter()
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-cell'); }")
        try:
            page.locator("perspective-viewer").first.wait_for(timeout=120_000)
            viewer = time.perf_counter() - t0
            page.locator("perspective-viewer").first.get_by_text("Timestamp").first.wait_for(
                timeout=120_000
            )
            header = time.perf_counter() - t0
            page.locator("perspective-viewer").first.get_by_text(MARKER).first.wait_for(
                timeout=120_000
            )
        finally:
            first_rows = time.perf_counter() - t0
            shot(page, "bench-first-rows")
        page.get_by_test_id("sauce-status").get_by_text("alerts").wait_for(timeout=120_000)
        shown = time.perf_counter() - t0
        page.get_by_test_id("sauce-status").get_by_text("1,000,000 alerts").wait_for(
            timeout=120_000
        ) if args.alerts == 1_000_000 else None
        shot(page, "bench-1m-alerts")
        status = page.get_by_test_id("sauce-status").inner_text()
    print(f"status line: {status}")
    print(f"time to first rows for {args.alerts:,} alerts: {first_rows:.2f} s (target < 3 s)")
    print(f"status line shown (the kernel done): {shown:.2f} s")
    print(f"grid on the page {viewer:.2f} s, its column headers drawn {header:.2f} s")

    if not args.keep:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
