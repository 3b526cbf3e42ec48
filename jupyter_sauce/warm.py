"""The warm engine: one Suricata in unix-socket mode with the ruleset loaded once.

Captures go in through the socket's JSON protocol (``pcap-file CAPTURE OUTDIR``); the
first start costs a rule load (~15 s for ET Open), later captures take well under a second.
One engine serves one (ruleset, HOME_NET, runmode) combination; captures are fed one at a
time.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .engine import (
    Progress,
    ProgressCallback,
    RunOutput,
    _run_warnings,
    check_capture_opened,
    log_tail,
    stop_process,
    suricata_env,
    wait_for,
    watch,
    write_config,
)
from .errors import Cancelled, EngineError
from .rules import Ruleset, parse_load_report
from .store import pid_alive

log = logging.getLogger(__name__)

_POLL_TIMEOUT = 10.0  # seconds for one status question while a capture is read


_PREFIX = "sauce-warm-"


def sweep_stale_run_dirs() -> None:
    """Remove warm-engine dirs left by processes that no longer exist (e.g. SIGKILLed),
    and stop the Suricata each left running (it would otherwise live on, orphaned)."""
    for item in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid = item.name[len(_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            for orphan in _suricatas_using(item / "suricata.sock"):
                with contextlib.suppress(ProcessLookupError):  # it may just have ended
                    os.kill(orphan, signal.SIGKILL)
            shutil.rmtree(item, ignore_errors=True)


def _suricatas_using(sock_path: Path) -> list[int]:
    """Pids of processes started with ``--unix-socket=sock_path`` (an orphaned engine)."""
    wanted = f"--unix-socket={sock_path}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if wanted in argv:
            found.append(int(entry.name))
    return found


class SocketClient:
    """Suricata's unix-socket JSON protocol (what suricatasc speaks)."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        reply = self._exchange({"version": "0.2"})
        if reply.get("return") != "OK":
            raise EngineError("Suricata's unix socket refused the protocol handshake.")

    def _exchange(self, message: dict) -> dict:
        try:
            return self._send_receive(message)
        except OSError as exc:  # a timeout too: Suricata 7 stops answering after some failures
            raise EngineError(
                f"Suricata's unix socket did not answer {message.get('command', 'hello')!r} "
                f"({exc.strerror or exc})."
            ) from exc

    def _send_receive(self, message: dict) -> dict:
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        buf = b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EngineError("Suricata closed its unix socket.")
            buf += chunk
            try:
                return json.loads(buf)
            except ValueError:
                continue

    def command(self, name: str, arguments: dict | None = None) -> dict:
        msg: dict = {"command": name}
        if arguments:
            msg["arguments"] = arguments
        return self._exchange(msg)

    def close(self) -> None:
        self.sock.close()


class WarmEngine:
    """A Suricata process in unix-socket mode. ``start()`` blocks until rules are loaded."""

    def __init__(
        self, binary: str, ruleset: Ruleset, home_net: list[str], runmode: str = "single"
    ) -> None:
        self.binary = binary
        self.ruleset = ruleset
        self.home_net = list(home_net)
        self.runmode = runmode
        self.key = (binary, ruleset.fingerprint, tuple(self.home_net), runmode)
        sweep_stale_run_dirs()
        self._tmp = tempfile.TemporaryDirectory(prefix=f"{_PREFIX}{os.getpid()}-")
        self.run_dir = Path(self._tmp.name)
        self.sock_path = self.run_dir / "suricata.sock"
        self.proc: subprocess.Popen | None = None
        self.client: SocketClient | None = None
        self.load = None
        self.started_seconds: float | None = None
        self._lock = threading.Lock()
        self._log_before = 0
        self._capture = Path()
        #: analyses holding this engine (the pipeline never stops it for others meanwhile)
        self.users = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.client is not None

    def start(
        self,
        timeout: float = 300.0,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """Start Suricata and wait until its socket answers (the rules are loaded);
        ``progress`` hears about the wait, ``cancel`` stops it (Cancelled)."""
        cfg = write_config(self.run_dir, self.ruleset, self.home_net, self.runmode)
        args = [self.binary, "-c", str(cfg), f"--unix-socket={self.sock_path}", "-k", "none"]
        args += ["-l", str(self.run_dir)]
        t0 = time.monotonic()
        err = (self.run_dir / "suricata.stderr").open("wb")
        try:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=suricata_env()
            )
        finally:
            err.close()
        loading = f"Suricata is loading {self.ruleset.rule_count} rules"
        while time.monotonic() - t0 < timeout:
            if cancel is not None and cancel.is_set():
                self.stop()
                raise Cancelled("The analysis was cancelled.")
            if progress is not None:
                progress(Progress("rules", 0, 0, loading, time.monotonic() - t0))
            if self.proc.poll() is not None:
                raise EngineError(
                    f"Suricata in unix-socket mode exited with code {self.proc.returncode}.",
                    log_tail(self.run_dir / "suricata.log"),
                )
            if self.sock_path.exists():
                try:
                    self.client = SocketClient(self.sock_path)
                    break
                except OSError as exc:  # the socket file exists before Suricata listens
                    log.debug("unix socket not ready yet: %s", exc)
            time.sleep(0.2)
        else:
            self.stop()
            raise EngineError("Suricata in unix-socket mode did not start in time.")
        self.started_seconds = time.monotonic() - t0
        atexit.register(self.stop)  # no Suricata left behind when the process exits
        self.load = parse_load_report(self._log(), self.ruleset)

    def _log(self) -> str:
        try:
            return (self.run_dir / "suricata.log").read_text(errors="replace")
        except OSError:
            return ""

    def analyze(
        self,
        capture: Path,
        size: int,
        out_dir: Path,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        timeout: float = 3600.0,
    ) -> RunOutput:
        """Feed one capture through ``pcap-file``; block until Suricata has finished it
        (after any capture another thread feeds it; ``cancel`` ends that wait too)."""
        wait_for(
            lambda t: self._lock.acquire(timeout=t), cancel, progress, "Waiting for the warm engine"
        )
        try:
            if not self.running:
                raise EngineError("The warm Suricata engine is not running.")
            assert self.client is not None and self.proc is not None
            out_dir.mkdir(parents=True, exist_ok=True)
            self._log_before = log_before = len(self._log())
            self._capture = capture
            self.client.sock.settimeout(_POLL_TIMEOUT)
            t0 = time.monotonic()
            reply = self.client.command(
                "pcap-file", {"filename": str(capture), "output-dir": str(out_dir)}
            )
            if reply.get("return") != "OK":
                raise EngineError(
                    f"Suricata's unix socket refused {capture.name!r}: {reply.get('message')}."
                )
            try:
                watch(self.proc, capture, size, progress, cancel, timeout, done=self._idle)
            except BaseException:
                # a cancelled or timed-out file cannot be withdrawn: restart the engine later
                self.stop()
                raise
            if self.proc.poll() is not None:
                raise EngineError(
                    "The warm Suricata engine died while reading the capture.",
                    log_tail(self.run_dir / "suricata.log"),
                )
            new_log = self._log()[log_before:]
            return RunOutput(
                out_dir, "warm", time.monotonic() - t0, self.load, _run_warnings(new_log)
            )
        finally:
            self._lock.release()

    def _idle(self) -> bool:
        client, proc = self.client, self.proc
        if client is None or proc is None:  # stop() from another thread (e.g. shutdown)
            raise EngineError("The warm Suricata engine was stopped while reading the capture.")
        if proc.poll() is not None:
            return True
        # Suricata 7's socket hangs after a file fails to open: look before asking it
        check_capture_opened(self._log()[self._log_before :], self._capture)
        try:
            queued = client.command("pcap-file-number").get("message")
            current = client.command("pcap-current").get("message")
        except EngineError:  # the file may have failed while we asked: say so if it did
            check_capture_opened(self._log()[self._log_before :], self._capture)
            raise
        return queued == 0 and current in (None, "None", "")

    def stop(self) -> None:
        if self.client is not None:
            self.client.sock.settimeout(2.0)  # a hung socket must not hold up the stop
            # already gone is fine: the process is stopped below either way
            with contextlib.suppress(OSError, EngineError):
                self.client.command("shutdown")
            self.client.close()
            self.client = None
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        self._tmp.cleanup()
        atexit.unregister(self.stop)
