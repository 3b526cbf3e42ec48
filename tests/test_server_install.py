"""The installed package enables the server extension: ``jupyter server extension list``
(the venv's own jupyter, with user config/data/runtime dirs and HOME in a temp dir) shows
jupyter_sauce enabled by the jupyter-config file in the environment's etc/jupyter, and
its validation OK."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
JUPYTER = Path(sys.executable).parent / "jupyter"
ENABLER = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / "jupyter_sauce.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.skipif(not JUPYTER.is_file(), reason=f"no jupyter next to {sys.executable}")
def test_extension_list_shows_enabled_and_ok(tmp_path: Path) -> None:
    assert json.loads(ENABLER.read_text()) == json.loads(
        (REPO / "jupyter-config" / "jupyter_server_config.d" / "jupyter_sauce.json").read_text()
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    for name in ("home", "config", "data", "runtime"):
        (tmp_path / name).mkdir()
    env.update(
        HOME=str(tmp_path / "home"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        NO_COLOR="1",
    )
    done = subprocess.run(
        [str(JUPYTER), "server", "extension", "list"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [ANSI.sub("", line).strip() for line in (done.stdout + done.stderr).splitlines()]
    # which config dir enables it: the environment's etc/jupyter, where pip put the file
    section = None
    enabled_in = []
    for line in lines:
        if line.startswith("Config dir:"):
            section = Path(line.split(":", 1)[1].strip()).resolve()
        elif line == "jupyter_sauce enabled":
            enabled_in.append(section)
    assert enabled_in == [ENABLER.parent.parent.resolve()], lines
    assert any(re.fullmatch(r"jupyter_sauce\s+(\S+\s+)?OK", line) for line in lines), lines
    problems = [
        line for line in lines if "jupyter_sauce" in line and re.search(r"\bX\b|rror|fail", line)
    ]
    assert not problems, problems
    assert not list((tmp_path / "config").iterdir())  # listing wrote nothing
