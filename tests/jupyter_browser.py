"""A real JupyterLab, Notebook 7 or Voila in temp dirs, driven by Playwright + Chromium.

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
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError

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
    """A running Jupyter front end with private dirs under ``base``.

    ``app``: ``lab`` (``jupyter lab``), ``notebook`` (Notebook 7), ``voila`` (``voila
    NOTEBOOK``, which must exist in ``work`` before :meth:`start`) or ``sauce-lab`` (the
    README's ``jupyter sauce lab FOLDER``, writing the demo notebook into ``work``).
    ``server_config`` is written as ``jupyter_server_config.json`` in the config dir.
    """

    def __init__(
        self,
        base: Path,
        sauce_config: dict[str, Any],
        app: str = "lab",
        *,
        server_config: dict[str, Any] | None = None,
        notebook: str | None = None,
    ) -> None:
        if app not in ("lab", "notebook", "voila", "sauce-lab"):
            raise ValueError(f"unknown app {app!r}")
        self.base = base
        self.app = app
        self.notebook = notebook
        self.home = base / "home"
        self.config_dir = base / "config"
        self.work = base / "work"
        for d in (self.home, self.config_dir, self.work, base / "data", base / "runtime"):
            d.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "jupyter_sauce_config.json").write_text(json.dumps(sauce_config))
        if server_config is not None:
            (self.config_dir / "jupyter_server_config.json").write_text(json.dumps(server_config))
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

    def command(self) -> list[str]:
        """The command line that starts this front end."""
        if self.app == "voila":
            return [
                str(VENV_BIN / "voila"), str(self.notebook), "--no-browser",
                f"--port={self.port}", "--Voila.ip=127.0.0.1", f"--token={self.token}",
            ]  # fmt: skip
        server = [
            "--no-browser", f"--port={self.port}", "--ip=127.0.0.1", "--allow-root",
            f"--ServerApp.token={self.token}", f"--ServerApp.root_dir={self.work}",
        ]  # fmt: skip
        if self.app == "notebook":
            return [str(VENV_BIN / "jupyter"), "notebook", *server, "--expose-app-in-browser"]
        lab = [*server, "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None"]
        if self.app == "sauce-lab":
            return [str(VENV_BIN / "jupyter"), "sauce", "lab", str(self.work), *lab]
        return [str(VENV_BIN / "jupyter"), "lab", *lab]

    def start(self, timeout: float = 60.0) -> Lab:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(), cwd=self.work, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        # Voila renders (and starts a kernel for) any path but its own static files
        probe = "/voila/static/voila.js" if self.app == "voila" else "/api/status"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.app} exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}{probe}?token={self.token}", timeout=2):
                    return self
            except HTTPError:
                return self  # the server answered
            except (URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        raise RuntimeError(f"{self.app} did not answer in {timeout} s")

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A request to the server's REST API (``path`` under the base URL): status, JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text = response.status, response.read()
        except HTTPError as exc:
            status, text = exc.code, exc.read()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text.decode(errors="replace")

    def stop(self) -> None:
        """Shut the server down (kernels first), then kill anything left that is ours."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                if self.app == "voila":  # no shutdown API: SIGTERM stops its kernels, then it
                    os.killpg(self.proc.pid, signal.SIGTERM)
                else:
                    request = urllib.request.Request(
                        f"{self.url}/api/shutdown?token={self.token}", method="POST", data=b""
                    )
                    urllib.request.urlopen(request, timeout=10).close()
                self.proc.wait(timeout=30)
            except (OSError, URLError, ConnectionError, TimeoutError, subprocess.TimeoutExpired):
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

    def leftover_pids(self, program: str | None = None) -> list[int]:
        """Processes whose environment carries this lab's private HOME (kernels, Suricata);
        with ``program``, only those running that executable (e.g. ``suricata``)."""
        marker = f"HOME={self.home}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if program is not None and Path(argv0.decode(errors="replace")).name != program:
                continue
            if marker in environ.split(b"\0"):
                found.append(int(entry.name))
        return found

    def notebook_url(self, name: str) -> str:
        if self.app == "voila":
            return f"{self.url}/?token={self.token}"
        if self.app == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"


@contextmanager
def running_lab(
    base: Path,
    sauce_config: dict[str, Any],
    app: str = "lab",
    *,
    prepare: Callable[[Path], Any] | None = None,
    **options: Any,
):
    """A started :class:`Lab`, stopped on exit; ``prepare(work)`` runs before the start."""
    lab = Lab(base, sauce_config, app, **options)
    try:
        if prepare is not None:
            prepare(lab.work)
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


def wait_for_kernel(page, timeout_ms: int = 120_000) -> None:
    """Wait until the current notebook (JupyterLab or Notebook 7) has an idle kernel."""
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


def open_and_run(page, lab: Lab, name: str, timeout_ms: int = 120_000) -> None:
    """Open a notebook (JupyterLab or Notebook 7), wait for its kernel, run all cells."""
    page.goto(lab.notebook_url(name))
    wait_for_kernel(page, timeout_ms)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def run_cell(page, index: int) -> None:
    """Run one cell of the current notebook (without waiting for it to finish)."""
    page.evaluate(
        """i => {
            const nb = window.jupyterapp.shell.currentWidget.content;
            nb.activeCellIndex = i;
            window.jupyterapp.commands.execute('notebook:run-cell');
        }""",
        index,
    )


def shot(page, name: str) -> Path:
    """Save a full-page screenshot under ARTIFACTS and print its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path
