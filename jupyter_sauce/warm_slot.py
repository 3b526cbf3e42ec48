"""The one warm engine a :class:`~jupyter_sauce.Sauce` keeps, shared by its analyses.

An analysis holds the engine for its settings (ruleset, HOME_NET, runmode) while it reads
a capture; an engine in use is never stopped for other settings: those analyses get no
engine (and run cold) until it is free. A failing engine is dropped by its holder.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .engine import ProgressCallback
from .errors import EngineError
from .rules import Ruleset
from .warm import WarmEngine, sweep_stale_run_dirs


class WarmSlot:
    """See the module docstring. Thread-safe."""

    def __init__(self) -> None:
        self.engine: WarmEngine | None = None
        self._lock = threading.Lock()
        # engines of processes killed before they could stop them, also for cold runs
        sweep_stale_run_dirs()

    @contextmanager
    def hold(
        self,
        binary: str,
        ruleset: Ruleset,
        nets: list[str],
        runmode: str,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[WarmEngine | None]:
        """The engine for these settings (started if need be, with ``progress`` and
        ``cancel`` heard while the rules load), or None while it serves other settings."""
        key = (binary, ruleset.fingerprint, tuple(nets), runmode)
        with self._lock:
            current = self.engine
            if current is not None and current.key != key and current.users:
                engine = None
            else:
                if current is not None and (current.key != key or not current.running):
                    current.stop()
                    self.engine = None
                if self.engine is None:
                    started = WarmEngine(binary, ruleset, nets, runmode)
                    try:
                        started.start(progress=progress, cancel=cancel)
                    except BaseException:
                        started.stop()
                        raise
                    self.engine = started
                engine = self.engine
                engine.users += 1
        try:
            yield engine
        except EngineError:  # a failing engine is not reused
            if engine is not None:
                with self._lock:
                    if self.engine is engine:
                        self.engine = None
                engine.stop()
            raise
        finally:
            if engine is not None:
                with self._lock:
                    engine.users -= 1

    def state(self) -> dict | None:
        """The running engine's settings and start time, or None when none runs."""
        engine = self.engine
        if engine is None or not engine.running:
            return None
        return {
            "ruleset": engine.ruleset.label,
            "home_net": engine.home_net,
            "start_seconds": round(engine.started_seconds or 0, 3),
        }

    def stop(self) -> None:
        """Stop the engine (if any)."""
        with self._lock:
            if self.engine is not None:
                self.engine.stop()
                self.engine = None
