"""Running Suricata on one capture, cold: ``suricata -r CAPTURE -c GENERATED.yaml -k none``.

Also the pieces the warm engine (:mod:`.warm`) shares: finding Suricata, its version,
the per-run config, progress from ``/proc`` and the log tail shown on failure.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Cancelled, CaptureError, EngineError, SuricataMissing
from .rules import LoadReport, Ruleset, parse_load_report
from .suricata_yaml import render_config

_LOG_PROBLEM = re.compile(r"\b(Error|Warning): (?:[\w-]+: )?(.*)")

INSTALL_HINT = (
    "Suricata is not installed or not on PATH: on Debian 12 run 'bash scripts/setup.sh' in "
    "the jupyter_sauce checkout (or 'apt-get install -t bookworm-backports suricata' with "
    "bookworm-backports enabled), elsewhere install Suricata 7 with your package manager, "
    "or set SuricataConfig.suricata_path."
)


@dataclass
class Progress:
    """Where a long step is: ``done`` of ``total`` (bytes of the capture read, or IPs)."""

    phase: str
    done: int = 0
    total: int = 0
    message: str = ""
    elapsed: float = 0.0
    eta: float | None = None

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None


ProgressCallback = Callable[[Progress], None]


@dataclass
class RunOutput:
    """The files one Suricata run wrote and what it said."""

    out_dir: Path
    engine: str  # "cold" | "warm"
    seconds: float
    load: LoadReport
    warnings: list[str] = field(default_factory=list)

    @property
    def eve_path(self) -> Path:
        return self.out_dir / "eve.json"

    @property
    def fast_path(self) -> Path:
        return self.out_dir / "fast.log"


def find_suricata(path: str) -> str:
    """The absolute path of the Suricata binary, or SuricataMissing with how to install it."""
    found = shutil.which(path)
    if found is None:
        if path != "suricata":  # a path the user set: name it
            where = f"at {path!r} (SuricataConfig.suricata_path)"
            raise SuricataMissing(INSTALL_HINT.replace("or not on PATH", where, 1))
        raise SuricataMissing(INSTALL_HINT)
    return found


@functools.lru_cache(maxsize=8)
def suricata_version(binary: str) -> str:
    """E.g. '7.0.10' from ``suricata -V``."""
    try:
        out = subprocess.run(
            [binary, "-V"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError as exc:
        raise SuricataMissing(INSTALL_HINT) from exc
    for word in out.split():
        if word[:1].isdigit():
            return word
    raise EngineError(f"Could not read Suricata's version from {binary!r}.", out[-500:])


def suricata_env() -> dict[str, str]:
    """Suricata's environment: UTC so fast.log's zone-less timestamps are UTC."""
    return {**os.environ, "TZ": "UTC"}


def write_config(run_dir: Path, ruleset: Ruleset, home_net: list[str], runmode: str) -> Path:
    """Write the generated suricata.yaml (and an empty threshold file) into ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    threshold = run_dir / "threshold.config"
    threshold.write_text("")
    reference = Path("/etc/suricata/reference.config")
    cfg = run_dir / "suricata.yaml"
    cfg.write_text(
        render_config(
            home_net=home_net,
            rule_file=ruleset.rule_file,
            classification_file=ruleset.classification_file,
            reference_file=reference if reference.is_file() else None,
            threshold_file=threshold,
            log_dir=run_dir,
            runmode=runmode,
        )
    )
    return cfg


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


_READER_FAILED = "pcap file reader thread failed to initialize"
_PCAP_ERROR = re.compile(r"Error: pcap: (.*)")


def check_capture_opened(log_text: str, capture: Path) -> None:
    """CaptureError if the log says Suricata could not open ``capture`` (libpcap refused it).

    Suricata 7 then waits ~60 s for its reader thread (cold) or stops answering on its
    unix socket (warm), so this is checked while it runs rather than after.
    """
    if _READER_FAILED not in log_text:
        return
    reasons = [m.group(1) for m in _PCAP_ERROR.finditer(log_text) if _READER_FAILED not in m[0]]
    reason = re.sub(r"\.?\s*pcap_next_ex\(\): -?\d+\.?$", "", reasons[0].strip()) if reasons else ""
    why = f": {reason.rstrip('.')}" if reason else ""
    raise CaptureError(f"Suricata cannot open the capture {capture.name!r}{why}.")


def bytes_read(pid: int, capture: Path) -> int | None:
    """How far Suricata (process ``pid``) has read ``capture``, from /proc; None if unknown."""
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(fd_dir / fd) == str(capture):
                    with open(f"/proc/{pid}/fdinfo/{fd}") as fh:
                        for line in fh:
                            if line.startswith("pos:"):
                                return int(line.split()[1])
            except OSError:
                continue
    except OSError:
        return None
    return None


def watch(
    proc: subprocess.Popen,
    capture: Path,
    size: int,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    timeout: float,
    done: Callable[[], bool] | None = None,
) -> None:
    """Report progress until ``proc`` exits (or ``done()``), honouring cancel and timeout."""
    start = time.monotonic()
    last = 0
    while True:
        finished = proc.poll() is not None if done is None else done()
        if finished:
            break
        if cancel is not None and cancel.is_set():
            raise Cancelled("The analysis was cancelled.")
        elapsed = time.monotonic() - start
        if elapsed > timeout:
            raise EngineError(f"Suricata took longer than {timeout:.0f} s on {capture.name!r}.")
        pos = bytes_read(proc.pid, capture)
        if pos is not None:
            last = max(last, pos)
        if progress is not None:
            what = "Suricata is reading" if last else "Suricata is starting (loading rules)"
            progress(Progress("suricata", min(last, size), size, what, elapsed))
        time.sleep(0.1 if elapsed < 2 else 0.25)
    if progress is not None:
        progress(Progress("suricata", size, size, "Suricata finished", time.monotonic() - start))


WAITING = "Waiting for another analysis of this capture with the same settings"


def wait_for(
    acquire: Callable[[float], bool],
    cancel: threading.Event | None,
    progress: ProgressCallback | None = None,
    message: str = WAITING,
) -> None:
    """Call ``acquire(timeout)`` until it succeeds, saying so through ``progress`` and
    raising Cancelled when ``cancel`` is set (a lock another analysis holds)."""
    start = time.monotonic()
    while not acquire(0.25):
        if cancel is not None and cancel.is_set():
            raise Cancelled("The analysis was cancelled.")
        if progress is not None:
            progress(Progress("wait", 0, 0, message, time.monotonic() - start))


def stop_process(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """Terminate, then kill, a child process; always reap it. (Suricata ignores SIGTERM
    while it loads rules, ~10 s for ET Open: a short grace, as nothing is kept then.)"""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_cold(
    binary: str,
    capture: Path,
    size: int,
    ruleset: Ruleset,
    home_net: list[str],
    out_dir: Path,
    *,
    runmode: str = "single",
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 3600.0,
) -> RunOutput:
    """One cold Suricata run on ``capture``; outputs land in ``out_dir``."""
    cfg = write_config(out_dir, ruleset, home_net, runmode)
    args = [binary, "-c", str(cfg), "-r", str(capture), "-l", str(out_dir), "-k", "none"]
    start = time.monotonic()
    stderr_path = out_dir / "suricata.stderr"
    with stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=suricata_env()
        )
        log_path = out_dir / "suricata.log"

        def finished() -> bool:
            if proc.poll() is not None:
                return True
            try:
                text = log_path.read_text(errors="replace")
            except OSError:
                return False
            check_capture_opened(text, capture)
            return False

        try:
            watch(proc, capture, size, progress, cancel, timeout, done=finished)
        finally:
            stop_process(proc)
    seconds = time.monotonic() - start
    log = (
        (out_dir / "suricata.log").read_text(errors="replace")
        if (out_dir / "suricata.log").exists()
        else ""
    )
    if proc.returncode != 0:
        details = "\n".join(
            filter(None, [log_tail(out_dir / "suricata.log"), log_tail(stderr_path)])
        )
        raise EngineError(
            f"Suricata failed with exit code {proc.returncode} on {capture.name!r}.", details
        )
    return RunOutput(out_dir, "cold", seconds, parse_load_report(log, ruleset), _run_warnings(log))


def _run_warnings(log: str) -> list[str]:
    """Suricata's own errors and warnings about reading the capture (truncation and the like)."""
    out = []
    for line in log.splitlines():
        m = _LOG_PROBLEM.search(line)
        if m and ("pcap" in line.lower() or "truncat" in line.lower()):
            out.append(f"Suricata {m.group(1).lower()}: {m.group(2).strip()[:300]}")
    return out[:10]
