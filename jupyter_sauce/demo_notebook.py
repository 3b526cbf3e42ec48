"""The demo notebook: the built-in Szechuan capture and a notebook that opens it in a CaseWidget.

``write_demo_notebook(folder)`` writes ``szechuan-demo.pcap`` and ``sauce-demo.ipynb``
(running ``%load_ext jupyter_sauce`` and ``%sauce szechuan-demo.pcap``);
``open_lab(folder)`` also starts JupyterLab on it (``jupyter sauce lab``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .demo import place_demo_capture
from .userpaths import make_folder

CAPTURE_NAME = "szechuan-demo.pcap"
NOTEBOOK_NAME = "sauce-demo.ipynb"

_INTRO = "\n".join(
    [
        "# The Case of the Stolen Szechuan Sauce — triage in one widget",
        "",
        "1. The capture `szechuan-demo.pcap` (a re-enactment written by jupyter_sauce) is",
        "   already chosen: press **Run**, or **Open stored result** when it was analysed",
        "   before (`scripts/demo.sh` analyses it in the terminal first).",
        "2. Explore the alerts grid: sort, filter, open the settings panel to add columns",
        "   such as *HTTP User-Agent*. The first IoC: the Nmap probe from `194.61.24.102`",
        "   to the domain controller `10.42.85.10`.",
        "3. Type the internal range `10.42.0.0/16` under *Exclude sources* and press",
        "   **Apply ranges**: what is left came from outside (the attacker's scan, brute",
        "   force and download). Clear it and exclude it as *destinations* instead: what is",
        "   left left the network, the TLS session to the C2 address `203.78.103.109`.",
        "4. Under *IoCs*, click an address to filter the grid to it, and open its",
        "   VirusTotal page with the link. **VirusTotal** enriches the global addresses:",
        "   with no API key it uses saved reports only (there are none for these",
        "   addresses, so the VirusTotal columns stay empty); with `VT_API_KEY` set it",
        "   asks VirusTotal and saves the answers.",
        "",
        "The widget is also in the variable `sauce_widget`: `sauce_widget.alerts`,",
        '`sauce_widget.iocs`, `sauce_widget.export("out", format="csv")`.',
    ]
)


def _cell(kind: str, source: str, index: int) -> dict:
    cell = {"cell_type": kind, "id": f"sauce-{index}", "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def demo_notebook(capture_name: str = CAPTURE_NAME) -> dict:
    """The notebook as a dict (nbformat 4.5, python3 kernelspec)."""
    cells = [
        _cell("markdown", _INTRO, 0),
        _cell("code", f"%load_ext jupyter_sauce\n%sauce {capture_name}", 1),
        _cell("code", "# after a run: the IoCs as shown in the widget\n# sauce_widget.iocs", 2),
    ]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
                "name": "python3",
            },
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_demo_notebook(folder: str | os.PathLike = "sauce-demo") -> Path:
    """Write the demo capture and notebook into ``folder`` (created); return the notebook.

    An existing notebook is kept (it may hold the user's own cells); the capture is
    written unless it is there already (generated, deterministically: the same bytes).
    """
    target = make_folder(folder)
    place_demo_capture(target / CAPTURE_NAME)
    notebook = target / NOTEBOOK_NAME
    if not notebook.exists():
        notebook.write_text(json.dumps(demo_notebook(), indent=1) + "\n", encoding="utf-8")
    return notebook


def lab_command(notebook: Path, extra: Sequence[str] = ()) -> list[str]:
    """The ``jupyter lab`` command line opening ``notebook``."""
    root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    # the URL JupyterLab prints then opens the notebook itself, not the Launcher
    url = f"--LabApp.default_url=/lab/tree/{notebook.name}"
    return [sys.executable, "-m", "jupyterlab", str(notebook.name), url, *root, *extra]


def open_lab(folder: str | os.PathLike = "sauce-demo", extra: Sequence[str] = ()) -> int:
    """Write the demo (see :func:`write_demo_notebook`) and run JupyterLab on it.

    JupyterLab runs in ``folder`` (so the picker starts there) until it is stopped;
    ``extra`` are more ``jupyter lab`` arguments (e.g. ``--no-browser``, ``--port=8899``).
    Returns JupyterLab's exit code.
    """
    notebook = write_demo_notebook(folder)
    print(f"Demo notebook: {notebook}", flush=True)
    try:
        return subprocess.call(lab_command(notebook, extra), cwd=notebook.parent)
    except KeyboardInterrupt:
        return 130
