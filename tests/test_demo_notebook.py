"""The demo notebook writer behind ``jupyter sauce lab``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from jupyter_sauce.demo_notebook import CAPTURE_NAME, lab_command, write_demo_notebook


def test_writes_capture_and_notebook(tmp_path: Path) -> None:
    notebook = write_demo_notebook(tmp_path / "demo")
    assert notebook.name == "sauce-demo.ipynb"
    assert (tmp_path / "demo" / CAPTURE_NAME).stat().st_size > 1000
    nb = json.loads(notebook.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["nbformat"] == 4
    sources = [cell["source"] for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert sources[0] == f"%load_ext jupyter_sauce\n%sauce {CAPTURE_NAME}"


def test_existing_notebook_is_kept(tmp_path: Path) -> None:
    notebook = write_demo_notebook(tmp_path)
    notebook.write_text('{"mine": true}')
    write_demo_notebook(tmp_path)
    assert json.loads(notebook.read_text()) == {"mine": True}


def test_lab_command_opens_the_notebook(tmp_path: Path) -> None:
    cmd = lab_command(tmp_path / "sauce-demo.ipynb", ["--no-browser"])
    root = ["--allow-root"] if os.geteuid() == 0 else []  # jupyter refuses root without it
    url = "--LabApp.default_url=/lab/tree/sauce-demo.ipynb"
    assert cmd[1:] == ["-m", "jupyterlab", "sauce-demo.ipynb", url, *root, "--no-browser"]
