#!/bin/sh
# Build the JupyterLab sidebar panel (labextension/ -> jupyter_sauce/labextension) against the
# JupyterLab of the Python environment on PATH (a venv's bin first: scripts/setup.sh does it).
# Called by `npm run build` (development) and `npm run build:prod`; SAUCE_LAB_CORE overrides
# the JupyterLab staging folder. No network: the builder reads JupyterLab's own core metadata.
set -eu
core="${SAUCE_LAB_CORE:-}"
if [ -z "$core" ]; then
  python=$(command -v python || command -v python3) || {
    echo "No python on PATH: activate the environment that has JupyterLab installed." >&2; exit 1; }
  core=$("$python" -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))') || {
    echo "JupyterLab is not installed in $python's environment: pip install jupyterlab." >&2; exit 1; }
fi
tsc -p labextension
exec node node_modules/@jupyterlab/builder/lib/build-labextension.js "$@" --core-path "$core" .
