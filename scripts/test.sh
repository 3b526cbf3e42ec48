#!/usr/bin/env bash
# Set everything up with test extras and Chromium (idempotent), then run lint and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check jupyter_sauce tests benchmarks
exec .venv/bin/python -m pytest -ra "$@"
