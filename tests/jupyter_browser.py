"""A real JupyterLab in temp dirs, driven by Playwright + Debian's Chromium.

Used by the browser tests (``tests/test_browser_*.py``) and ``benchmarks/bench_widget.py``.
Everything it starts is stopped: the server by its process group, then any process
still carrying this lab's private HOME in its environment (kernels, Suricata).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.error import URLError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
VENV_BIN = Path(sys.executable).parent
ARTIFACTS = Path(
    os.environ.get("SAUCE_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts")
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_notebook(path: Path, cells: list[str]) -> Path:
    """A notebook with a python3 kernelspec and the given code cells."""
    nb = {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {},
             "outputs": [], "source": src}
            for i, src in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                           "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }  # fmt: skip
    path.write_text(json.dumps(nb, indent=1))
    return path


class Lab:
    """A running ``jupyter lab`` (or ``jupyter notebook``) with private dirs under ``base``."""

    def __init__(self, base: Path, sauce_config: dict[str, Any], app: str = "lab") -> None:
        self.base = base
        self.app = app
        self.home = base / "home"
        self.config_dir = base / "config"
        self.work = base / "work"
        for d in (self.home, self.config_dir, self.work, base / "data", base / "runtime"):
            d.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "jupyter_sauce_config.json").write_text(json.dumps(sauce_config))
        labconfig = self.config_dir / "labconfig"
        labconfig.mkdir(exist_ok=True)
        (labconfig / "page_config.json").write_text(
            json.dumps(
                {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
            )
        )
        self.port = free_port()
        self.token = os.urandom(12).hex()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "HOME": str(self.home),
            "JUPYTER_CONFIG_DIR": str(self.config_dir),
            "JUPYTER_DATA_DIR": str(base / "data"),
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        }
        self.env.pop("VT_API_KEY", None)
        self.proc: subprocess.Popen | None = None
        self.log = base / f"{app}.log"

    def start(self, timeout: float = 60.0) -> Lab:
        cmd = [
            str(VENV_BIN / "jupyter"), self.app, "--no-browser", f"--port={self.port}",
            "--ip=127.0.0.1", f"--ServerApp.token={self.token}", "--allow-root",
            f"--ServerApp.root_dir={self.work}", "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
        ]  # fmt: skip
        if self.app == "notebook":
            cmd.remove("--LabApp.expose_app_in_browser=True")
            cmd.remove("--LabApp.news_url=None")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.work, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2):
                    return self
            except (URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        raise RuntimeError(f"jupyter {self.app} did not answer in {timeout} s")

    def stop(self) -> None:
        """Shut the server down (kernels first), then kill anything left that is ours."""
        if self.proc is not None and self.proc.poll() is None:
            request = urllib.request.Request(
                f"{self.url}/api/shutdown?token={self.token}", method="POST", data=b""
            )
            try:
                urllib.request.urlopen(request, timeout=10).close()
                self.proc.wait(timeout=30)
            except (URLError, ConnectionError, TimeoutError, subprocess.TimeoutExpired):
                pass  # the kill below handles a server that did not stop on request
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for pid in self.leftover_pids():
            try:
                os.killpg(pid, signal.SIGKILL) if os.getpgid(pid) == pid else os.kill(
                    pid, signal.SIGKILL
                )
            except ProcessLookupError:
                continue

    def leftover_pids(self) -> list[int]:
        """Processes whose environment carries this lab's private HOME (kernels, Suricata)."""
        marker = f"HOME={self.home}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                found.append(int(entry.name))
        return found

    def notebook_url(self, name: str) -> str:
        if self.app == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"


@contextmanager
def running_lab(base: Path, sauce_config: dict[str, Any], app: str = "lab"):
    lab = Lab(base, sauce_config, app)
    try:
        yield lab.start()
    finally:
        lab.stop()


@contextmanager
def chromium():
    """A Playwright Chromium (Debian's binary), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_and_run(page, lab: Lab, name: str, timeout_ms: int = 120_000) -> None:
    """Open a notebook in JupyterLab, wait for its kernel, run all cells."""
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(".jp-Notebook", timeout=timeout_ms)
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session
                && w.sessionContext.session.kernel;
            return k && k.status === 'idle';
        }""",
        timeout=timeout_ms,
    )
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def shot(page, name: str) -> Path:
    """Save a full-page screenshot under ARTIFACTS and print its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path
