"""Background analyses for the REST API: a bounded pool, a queue, shared identical runs.

A :class:`RunManager` owns one :class:`~jupyter_sauce.pipeline.Sauce` and a
``ThreadPoolExecutor`` with ``max_concurrent_runs`` workers. ``submit`` answers at once
with a :class:`Run`; identical requests share one run while it is queued, running or
done. Identical means what the case store key means: the same capture (file identity
and change stamps, or content hash), ruleset content (fingerprint) and HOME_NET; an
edited rules folder or capture is a new run. Cancelling sets the
``threading.Event`` the pipeline watches, which stops Suricata; the case store's atomic
writes guarantee that a cancelled or interrupted run leaves no half entry.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine import Progress
from ..errors import Cancelled, SauceError
from ..pipeline import Case, Sauce

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
INTERNAL_ERROR = {
    "code": "InternalError",
    "message": "The analysis failed unexpectedly; the server log has the details.",
    "details": "",
}
FINISHED = ("done", "failed", "cancelled")


class RunNotFound(SauceError):
    """No run has this id (HTTP 404)."""

    http_status = 404


class QueueFull(SauceError):
    """Too many runs are waiting (HTTP 503)."""

    http_status = 503


@dataclass
class Run:
    """One requested analysis and what became of it."""

    id: str
    path: str  # as the client sees it: relative to the server root
    real_path: Path
    rules: str | None  # the pipeline's rules spec (None: the configured default)
    rules_label: str  # what the client asked for, never a server path outside the root
    home_net: list[str]  # canonical CIDRs
    fingerprint: str = ""  # of the ruleset's content when the run was asked for
    request_keys: list[tuple] = field(default_factory=list)
    state: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    progress: dict[str, Any] | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    future: Future | None = field(default=None, repr=False)
    requests: int = 1
    key: str | None = None
    case: Case | None = field(default=None, repr=False)
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of a run (see openapi.json ``Run``)."""
        manifest = self.case.manifest if self.case is not None else {}
        engine = manifest.get("engine", {})
        return {
            "id": self.id,
            "path": self.path,
            "rules": self.rules_label,
            "home_net": manifest.get("options", {}).get("home_net", self.home_net),
            "state": self.state,
            "cancel_requested": self.cancel.is_set() and self.state in ACTIVE,
            "created": _iso(self.created),
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "progress": self.progress,
            "requests": self.requests,
            "key": self.key,
            "counts": manifest.get("counts"),
            "warnings": list(manifest.get("warnings", [])),
            "notices": list(manifest.get("notices", [])),
            "ruleset": _ruleset(manifest.get("ruleset")),
            "engine": engine.get("name"),
            "suricata": engine.get("suricata"),
            "timings": manifest.get("timings"),
            "error": self.error,
        }


def _ruleset(label: dict | None) -> dict | None:
    if label is None:
        return None
    return {k: label.get(k) for k in ("source", "date", "rules", "fingerprint")}


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _progress_dict(p: Progress) -> dict[str, Any]:
    fraction = p.fraction
    return {
        "phase": p.phase,
        "done": int(p.done),
        "total": int(p.total),
        "fraction": None if fraction is None else round(fraction, 4),
        "message": p.message,
        "elapsed": round(p.elapsed, 3),
    }


class RunManager:
    """Runs analyses in the background; see the module docstring."""

    def __init__(
        self, sauce: Sauce, *, max_concurrent: int = 1, max_queued: int = 64, keep: int = 200
    ) -> None:
        self.sauce = sauce
        self.max_queued = max_queued
        self.keep = keep
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, max_concurrent), thread_name_prefix="sauce-run"
        )
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}
        self._by_request: dict[tuple, str] = {}
        self._closed = False
        self.analyses_started = 0  # calls into Sauce.analyze (tests and status)

    # --- queries ------------------------------------------------------------------------
    def get(self, run_id: str) -> Run:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise RunNotFound("No run has this id.")
        return run

    def list(self) -> list[Run]:
        with self._lock:
            return sorted(self._runs.values(), key=lambda r: r.created)

    def counts(self) -> dict[str, int]:
        out = {state: 0 for state in (*ACTIVE, *FINISHED)}
        for run in self.list():
            out[run.state] += 1
        return out

    # --- changes ------------------------------------------------------------------------
    def submit(
        self,
        real_path: Path,
        rel_path: str,
        rules: str | None,
        rules_label: str,
        home_net: list[str],
    ) -> tuple[Run, bool]:
        """Start an analysis or join an identical one; returns (run, created).

        Resolves the ruleset (reading its files: a RulesError if they cannot be)."""
        fingerprint = self.sauce.ruleset(rules).fingerprint
        options = (fingerprint, tuple(home_net))
        st = real_path.stat()
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        keys = [("file", str(real_path), *stamp, *options)]
        sha = self.sauce.store.known_sha256(real_path)
        if sha is not None:
            keys.append(("sha256", sha, *options))
        with self._lock:
            if self._closed:
                raise QueueFull("The server is shutting down.")
            for key in keys:
                existing = self._runs.get(self._by_request.get(key, ""))
                if existing is not None and self._reusable(existing):
                    existing.requests += 1
                    for k in keys:
                        self._register(k, existing)
                    return existing, False
            if sum(r.state == "queued" for r in self._runs.values()) >= self.max_queued:
                raise QueueFull(
                    f"The queue of runs is full (SauceApp.max_queued_runs = {self.max_queued}); "
                    "try again later."
                )
            run = Run(
                uuid.uuid4().hex, rel_path, real_path, rules, rules_label, home_net, fingerprint
            )
            for key in keys:
                self._register(key, run)
            self._runs[run.id] = run
            self._forget_old()
            run.future = self._pool.submit(self._execute, run)
        return run, True

    def _register(self, key: tuple, run: Run) -> None:
        self._by_request[key] = run.id
        if key not in run.request_keys:
            run.request_keys.append(key)

    def _reusable(self, run: Run) -> bool:
        if run.state in ACTIVE:
            return not run.cancel.is_set()
        return run.state == "done" and run.key is not None and self.sauce.store.has(run.key)

    def _forget_old(self) -> None:
        finished = [r for r in self._runs.values() if r.state in FINISHED]
        for run in sorted(finished, key=lambda r: r.created)[: max(0, len(self._runs) - self.keep)]:
            self._drop(run)

    def _drop(self, run: Run) -> None:
        self._runs.pop(run.id, None)
        self._unregister(run)

    def _unregister(self, run: Run) -> None:
        for key in run.request_keys:
            if self._by_request.get(key) == run.id:
                del self._by_request[key]
        run.request_keys.clear()

    def cancel(self, run_id: str) -> Run:
        """Ask a queued or running run to stop (a queued one stops at once)."""
        run = self.get(run_id)
        run.cancel.set()
        if run.state == "queued" and run.future is not None and run.future.cancel():
            self._finish(run, "cancelled")
        return run

    def delete(self, run_id: str) -> Run | None:
        """Cancel an active run (returned; it stays listed, as cancelled once stopped) or
        forget a finished one (None). The case store entry of a done run stays: it is shared."""
        run = self.get(run_id)
        if run.state in ACTIVE:
            return self.cancel(run_id)
        with self._lock:
            self._drop(run)
        return None

    # --- the work -----------------------------------------------------------------------
    def _execute(self, run: Run) -> None:
        try:
            self._run(run)
        except Exception:  # a fault in the bookkeeping: logged, and the run failed below
            log.exception("jupyter_sauce: run %s failed unexpectedly", run.id)
        finally:
            if run.state in ACTIVE:  # whatever went wrong, a run never stays "running"
                run.error = run.error or dict(INTERNAL_ERROR)
                self._finish(run, "failed")

    def _run(self, run: Run) -> None:
        if run.cancel.is_set():
            self._finish(run, "cancelled")
            return
        run.state, run.started = "running", time.time()

        def progress(p: Progress) -> None:
            run.progress = _progress_dict(p)

        try:
            self.analyses_started += 1
            case = self.sauce.analyze(
                run.real_path,
                rules=run.rules,
                home_net=", ".join(run.home_net),
                progress=progress,
                cancel=run.cancel,
            )
        except Cancelled:
            self._finish(run, "cancelled")
        except SauceError as exc:
            run.error = {"code": type(exc).__name__, "message": exc.message, "details": exc.details}
            self._finish(run, "failed")
        except Exception:
            log.exception("jupyter_sauce: run %s failed unexpectedly", run.id)
            run.error = dict(INTERNAL_ERROR)
            self._finish(run, "failed")
        else:
            run.case, run.key = case, case.key
            with self._lock:
                shown = case.ruleset.get("fingerprint") or ""  # a prefix of the fingerprint
                if not (shown and run.fingerprint.startswith(shown)):
                    # the rules were edited between the request and the run: the result
                    # is for other rules than the request keys say, so it is not shared
                    self._unregister(run)
                elif sha := case.capture.get("sha256"):
                    self._register(("sha256", sha, run.fingerprint, tuple(run.home_net)), run)
            self._finish(run, "done")

    def _finish(self, run: Run, state: str) -> None:
        run.state, run.finished = state, time.time()

    def shutdown(self) -> None:
        """Cancel everything, wait for the workers, stop Suricata. Idempotent."""
        with self._lock:
            self._closed = True
            runs = list(self._runs.values())
        for run in runs:
            if run.state in ACTIVE:
                run.cancel.set()
                if run.future is not None and run.future.cancel():
                    self._finish(run, "cancelled")
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.sauce.close()
