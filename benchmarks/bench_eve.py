"""Benchmark: jupyter_sauce.eve.parse_file vs pandas.read_json(lines=True) on a big eve.json.

Builds a large eve.json in a temp dir by repeating real corpus logs (menna-zeus-lab x2,
kvnlxu-securityonion, phucnb-2015: alerts, flows, dns, dhcp, stats, old 2.x format),
then measures each parser in its own subprocess (so Arrow's native allocations count):
wall time, and peak RSS above the RSS after imports (``ru_maxrss``). Prints the figures
and the two ratios the design asks for:

- speed: pandas time / our time (target >= 5);
- memory: our peak RSS increase / memory of the frames we return (target <= 2).

Usage: ``python benchmarks/bench_eve.py [--mb 250] [--keep]``. The temp data is deleted
at the end unless ``--keep``. Needs the corpus (../shared/corpus or $SAUCE_CORPUS).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SAUCE_CORPUS", REPO.parent / "shared" / "corpus"))
LOGS = CORPUS / "suricata-logs"
SOURCES = [
    LOGS / "menna-zeus-lab" / "eve.json",
    LOGS / "menna-zeus-lab" / "eve.json",
    LOGS / "kvnlxu-securityonion" / "eve.json",
    LOGS / "phucnb-2015" / "eve.json",
]


def build(path: Path, megabytes: int) -> tuple[int, int]:
    """Write ~megabytes of eve.json to path; return (bytes, lines)."""
    block = b"".join(p.read_bytes().rstrip(b"\n") + b"\n" for p in SOURCES)
    reps = max(1, (megabytes << 20) // len(block))
    with open(path, "wb") as fh:
        for _ in range(reps):
            fh.write(block)
    return reps * len(block), reps * block.count(b"\n")


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(kind: str, path: str) -> None:
    """Run one parser in this (fresh) process and print a JSON line of figures."""
    import pandas as pd
    import pyarrow as pa

    sys.path.insert(0, str(REPO))
    from jupyter_sauce import eve

    # warm up imports and lazy initialisation outside the measurement
    eve.parse_text('{"timestamp":"2024-01-01T00:00:00+0000","event_type":"stats"}\n')
    pool = pa.default_memory_pool()
    base = _maxrss_bytes()
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    if kind == "ours":
        result = eve.parse_file(path)
        frames = [result.alerts, result.flows]
        extra = {
            "alerts": len(result.alerts),
            "flows": len(result.flows),
            "lines": result.report.lines,
            "problems": result.report.bad_lines,
        }
    else:
        df = pd.read_json(path, lines=True)
        frames = [df]
        extra = {"rows": len(df)}
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    peak = _maxrss_bytes()
    frame_bytes = int(sum(f.memory_usage(deep=True).sum() for f in frames))
    print(
        json.dumps(
            {
                "kind": kind,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "rss_peak_increase": peak - base,
                "frame_bytes": frame_bytes,
                "arrow_pool_max": pool.max_memory(),
                **extra,
            }
        )
    )


def run_child(kind: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=250, help="size of the generated eve.json")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument("--skip-pandas", action="store_true", help="only time our parser")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    missing = [p for p in SOURCES if not p.is_file()]
    if missing:
        print(f"corpus logs not found ({missing[0]}); set SAUCE_CORPUS", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="sauce_bench_eve_"))
    try:
        path = tmp / "eve.json"
        size, lines = build(path, args.mb)
        print(f"input: {path} {size / 2**20:.0f} MiB, {lines:,} lines")
        print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        ours = run_child("ours", path)
        mib = 2**20
        print(
            f"jupyter_sauce.eve.parse_file: {ours['seconds']:.2f} s wall, "
            f"{ours['cpu_seconds']:.2f} s CPU, "
            f"{ours['alerts']:,} alerts + {ours['flows']:,} flows, {ours['problems']} problems; "
            f"frames {ours['frame_bytes'] / mib:.0f} MiB, "
            f"peak RSS +{ours['rss_peak_increase'] / mib:.0f} MiB, "
            f"Arrow pool max {ours['arrow_pool_max'] / mib:.0f} MiB"
        )
        mem_ratio = ours["rss_peak_increase"] / ours["frame_bytes"]
        print(f"memory ratio (peak RSS increase / frames): {mem_ratio:.2f}  (target <= 2)")
        if not args.skip_pandas:
            pd_ = run_child("pandas", path)
            print(
                f"pandas.read_json(lines=True): {pd_['seconds']:.2f} s wall, "
                f"{pd_['cpu_seconds']:.2f} s CPU, {pd_['rows']:,} rows; "
                f"frame {pd_['frame_bytes'] / mib:.0f} MiB, "
                f"peak RSS +{pd_['rss_peak_increase'] / mib:.0f} MiB"
            )
            print(
                f"speed ratio (pandas / ours): wall {pd_['seconds'] / ours['seconds']:.1f}x"
                f", CPU {pd_['cpu_seconds'] / ours['cpu_seconds']:.1f}x  (target >= 5)"
            )
            print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
