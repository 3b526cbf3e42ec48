"""The command line as a user runs it: a subprocess with its own store and config dir,
and no VirusTotal key unless the test gives one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "jcfg"), "VT_API_KEY": ""}
    return subprocess.run(
        [sys.executable, "-m", "jupyter_sauce.cli", "--store", str(tmp_path / "store"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**base, **(env or {})},
        cwd=tmp_path,
    )
