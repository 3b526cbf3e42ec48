#!/usr/bin/env bash
# Set everything up (idempotent), then analyse the built-in Szechuan demo capture.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/jupyter-sauce demo --path demo/szechuan-demo.pcap "$@"
