#!/usr/bin/env bash
# Set everything up (idempotent), analyse the built-in Szechuan demo capture in the
# terminal, then open JupyterLab on the demo notebook (the CaseWidget on the same capture).
#   bash scripts/demo.sh               # terminal results, then JupyterLab (Ctrl-C to stop)
#   bash scripts/demo.sh --headless    # terminal results only
#   bash scripts/demo.sh --no-browser --port 8899   # extra arguments go to jupyter lab
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/jupyter-sauce demo --path demo/szechuan-demo.pcap
if [ "${1:-}" = "--headless" ]; then
  exit 0
fi
exec .venv/bin/jupyter-sauce lab demo "$@"
