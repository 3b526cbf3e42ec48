"""Run a snippet as the unprivileged user 'nobody' (root reads files whatever their mode).

Tests of unreadable files use it when the suite runs as root, as it does in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NOBODY = 65534


def as_nobody(args: list[str], home: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python ARGS...`` as nobody, with HOME and the caches under ``home``."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is missing")
    drop = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home)}
    return subprocess.run(
        [*drop, sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@contextmanager
def open_box() -> Iterator[Path]:
    """A temp folder anyone may enter (pytest's tmp_path is private to root), removed after."""
    base = Path(tempfile.mkdtemp(prefix="sauce-nobody-"))
    try:
        base.chmod(0o755)
        home = base / "home"
        home.mkdir()
        home.chmod(0o777)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)
