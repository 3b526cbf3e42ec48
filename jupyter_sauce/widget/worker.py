"""Running work off the kernel's event loop, and bringing results back onto it.

Widget state (traits) is only touched on the thread that runs the kernel's asyncio
loop; long work (Suricata, parsing, VirusTotal, loading the perspective Table, whose
server is thread-safe) runs on worker threads. Outside a kernel (plain Python, unit
tests) there is no running loop and the results are applied on the worker thread under
a lock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any, TypeVar

from ..errors import SauceError

log = logging.getLogger(__name__)

T = TypeVar("T")


def error_payload(exc: BaseException) -> dict[str, str]:
    """What the widget shows for an error: one sentence and details on demand.

    A :class:`SauceError` carries both. Anything else is a bug: one sentence naming the
    exception and where it happened. Its traceback is neither shown nor printed into the
    cell's output (a kernel's log goes there): it stays in the controller's
    ``last_exception`` and the debug log.
    """
    if isinstance(exc, SauceError):
        return {"message": exc.message, "details": exc.details or ""}
    log.debug("Unexpected error in the CaseWidget", exc_info=exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (in {frames[-1].name}, {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    text = str(exc).strip().rstrip(".") or "no description"
    return {
        "message": f"Something went wrong: {type(exc).__name__}: {text}.",
        "details": f"{type(exc).__name__}{where}. A bug in jupyter_sauce: please report it; "
        "the traceback is in sauce_widget.controller.last_exception.",
    }


class Dispatcher:
    """Runs callables on the kernel's event loop thread (or inline when there is none)."""

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        try:
            self.loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None
        self._lock = threading.RLock()
        self._on_error = on_error

    def post(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the loop thread soon; errors go to ``on_error``."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._guarded, fn)
        else:
            self._guarded(fn)

    def _guarded(self, fn: Callable[[], Any]) -> None:
        with self._lock:
            try:
                fn()
            except Exception as exc:
                self._on_error(exc)


class WidgetClosed(SauceError):
    """Work asked of a CaseWidget after ``close()``."""


class Worker:
    """One background thread running jobs in order; results come back through a Dispatcher."""

    def __init__(self, name: str, dispatcher: Dispatcher) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sauce-{name}")
        self._dispatcher = dispatcher
        self._futures: list[Future] = []
        self._lock = threading.Lock()

    def submit(
        self,
        work: Callable[[], T],
        done: Callable[[T], Any],
        failed: Callable[[BaseException], Any],
    ) -> Future:
        """Run ``work()`` on the thread, then ``done(result)`` or ``failed(exc)`` on the loop."""

        def job() -> None:
            try:
                result = work()
            except Exception as exc:
                self._dispatcher.post(lambda error=exc: failed(error))  # bind: exc is unset later
                return
            self._dispatcher.post(lambda: done(result))

        try:
            future = self._pool.submit(job)
        except RuntimeError:  # the pool was shut down: the widget was closed
            raise WidgetClosed(
                "This CaseWidget was closed; make a new one (e.g. with %sauce)."
            ) from None
        with self._lock:
            self._futures = [f for f in self._futures if not f.done()] + [future]
        return future

    def pending(self) -> list[Future]:
        with self._lock:
            return [f for f in self._futures if not f.done()]

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the submitted jobs finished; False on timeout (not in a kernel cell!)."""
        _done, not_done = wait_futures(self.pending(), timeout=timeout)
        return not not_done

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
