"""Cold vs warm Suricata analysis with the ET Open ruleset, and cached reopen time.

Prints figures measured in one run on the same inputs (targets from issue 2):
  warm analysis of a small capture <= 1/20 of a cold run; reopen of a stored case < 0.5 s.

    python benchmarks/bench_engine.py [--rules DIR] [--capture PCAP] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from traitlets.config import Config

from jupyter_sauce.engine import find_suricata, run_cold
from jupyter_sauce.pipeline import Sauce

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default=str(CORPUS / "rules" / "et-open-2024-04-21"))
    ap.add_argument(
        "--capture", default=str(CORPUS / "pcaps" / "esnet-curated" / "nmap_80_all.pcap")
    )
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cap = Path(args.capture)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config()
        cfg.StoreConfig.store_dir = str(Path(tmp) / "store")
        cfg.RulesConfig.rules = args.rules
        with Sauce(cfg) as sauce:
            ruleset = sauce.ruleset()
            nets = sauce.home_net()
            binary = find_suricata("suricata")
            print(f"capture: {cap.name} ({cap.stat().st_size} bytes); rules: {ruleset.describe()}")

            cold = []
            for i in range(args.repeat):
                t0 = time.perf_counter()
                run_cold(binary, cap, cap.stat().st_size, ruleset, nets, Path(tmp) / f"cold{i}")
                cold.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            sauce.analyze(cap)  # starts the warm engine (one rule load) and analyses
            first = time.perf_counter() - t0
            warm = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                case = sauce.analyze(cap, rerun=True)
                warm.append(time.perf_counter() - t0)
            assert case.manifest["engine"]["name"] == "warm"

            reopen = []
            for _ in range(args.repeat):
                fresh = Sauce(cfg)  # a new Sauce (the process may remember settled rulesets)
                t0 = time.perf_counter()
                again = fresh.open(cap)
                assert again is not None
                _ = again.alerts, again.flows
                reopen.append(time.perf_counter() - t0)
                fresh.close()
            cold_process = [_reopen_in_new_process(cfg, cap) for _ in range(args.repeat)]

    c, w, r = statistics.median(cold), statistics.median(warm), statistics.median(reopen)
    print(f"cold analysis (suricata -r, rules loaded each time): median {c:.2f} s  {cold}")
    print(f"warm engine start + first analysis:                  {first:.2f} s")
    print(f"warm analysis (full pipeline incl. parse + store):   median {w:.3f} s")
    print(
        f"warm / cold ratio: 1/{c / w:.0f}   (target <= 1/20)  {'OK' if c / w >= 20 else 'MISSED'}"
    )
    print(
        f"cached reopen (new Sauce, open + read frames):       median {r:.3f} s "
        f"(target < 0.5 s)  {'OK' if r < 0.5 else 'MISSED'}"
    )
    opened = statistics.median(t for t, _ in cold_process)
    whole = statistics.median(t for _, t in cold_process)
    print(
        f"cached reopen in a new process (open + frames):    median {opened:.3f} s "
        f"(target < 0.5 s)  {'OK' if opened < 0.5 else 'MISSED'}; with Python start and "
        f"imports {whole:.2f} s"
    )


REOPEN = """
import sys, time
t0 = time.perf_counter()
from traitlets.config import Config
from jupyter_sauce.pipeline import Sauce
cfg = Config()
cfg.StoreConfig.store_dir, cfg.RulesConfig.rules = sys.argv[1], sys.argv[2]
t1 = time.perf_counter()
with Sauce(cfg) as sauce:
    case = sauce.open(sys.argv[3])
    case.alerts, case.flows
print(time.perf_counter() - t1)
"""


def _reopen_in_new_process(cfg: Config, cap: Path) -> tuple[float, float]:
    """(seconds to open a stored case and read its frames, whole process seconds)."""
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", REOPEN, cfg.StoreConfig.store_dir, cfg.RulesConfig.rules, str(cap)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return float(out), time.perf_counter() - t0


if __name__ == "__main__":
    main()
