#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 machine: Suricata 7 (bookworm-backports), a venv with
# jupyter_sauce installed editable, and (with --test) test extras and Chromium.
# Usage: scripts/setup.sh [--test]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
want_test=0
[ "${1:-}" = "--test" ] && want_test=1
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

apt_install() {
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt_install python3-venv python3-pip
fi
if ! command -v suricata >/dev/null 2>&1; then
  if [ -f /etc/debian_version ] && grep -q '^12' /etc/debian_version; then
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      # same mirror as the machine's own sources
      # (comment lines skipped: they may name a snapshot archive; missing files are fine)
      mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
                   /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v '^[[:space:]]*#' \
               | grep -oE 'https?://[^ ]*/debian/?( |$)' | tr -d ' ' | head -n1 || true)
      mirror=${mirror:-http://deb.debian.org/debian}
      printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
    fi
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports suricata >/dev/null
  else
    echo "Suricata is not installed: install Suricata 7 with your package manager (see README)." >&2
    exit 1
  fi
fi
if [ "$want_test" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium
fi
if ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm   # builds the JupyterLab sidebar panel
fi

venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
fi
stamp="$venv/.installed-$( (cat "$here/pyproject.toml"; echo "$want_test") | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  if [ "$want_test" = 1 ]; then
    "$venv/bin/pip" install -q -e "$here[test]"
  else
    "$venv/bin/pip" install -q -e "$here"
  fi
  touch "$stamp"
fi

# The JupyterLab sidebar panel (labextension/ -> jupyter_sauce/labextension), built against
# the JupyterLab in the venv and linked where JupyterLab looks for prebuilt extensions.
lab_core=$("$venv/bin/python" -c 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))')
lab_stamp="$here/jupyter_sauce/labextension/.built-$( (cd "$here" && cat package.json package-lock.json \
  labextension/tsconfig.json labextension/src/* labextension/style/* scripts/build-labextension.sh; cat "$lab_core/package.json") \
  | sha256sum | cut -c1-16)"
if [ ! -f "$lab_stamp" ]; then
  (
    cd "$here"
    [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] \
      || npm ci --no-audit --no-fund --loglevel=error
    rm -rf jupyter_sauce/labextension labextension/lib labextension/tsconfig.tsbuildinfo
    log=$(mktemp)
    if ! PATH="$venv/bin:$PATH" npm run --silent build:prod >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      echo "Building the JupyterLab sidebar panel failed (npm run build:prod)." >&2
      exit 1
    fi
    rm -f "$log"
  )
  touch "$lab_stamp"
fi
mkdir -p "$venv/share/jupyter/labextensions"
ln -sfn "$here/jupyter_sauce/labextension" "$venv/share/jupyter/labextensions/jupyter_sauce"
