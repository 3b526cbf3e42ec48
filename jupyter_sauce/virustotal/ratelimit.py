"""Request pacing: a sliding-window per-minute limiter and a persisted per-day counter.

The clock and the waiting are injectable so tests need no real sleeps.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from filelock import FileLock

from ..atomicfile import atomic_write_json, damaged, read_json_or

Waiter = Callable[[float, "threading.Event | None"], bool]

USAGE_KEEP_DAYS = 31


def wait_or_cancel(seconds: float, cancel: threading.Event | None) -> bool:
    """Wait ``seconds``; return True if ``cancel`` was set meanwhile (returns at once then)."""
    if cancel is None:
        time.sleep(seconds)
        return False
    return cancel.wait(seconds)


class RateLimiter:
    """At most ``per_window`` requests in any ``window`` seconds (sliding window).

    ``per_window <= 0`` means no limit. ``clock`` returns monotonic seconds; ``waiter``
    waits (and reports cancellation) — both replaceable in tests.
    """

    def __init__(
        self,
        per_window: int,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        waiter: Waiter = wait_or_cancel,
    ) -> None:
        self.per_window = int(per_window)
        self.window = float(window)
        self._clock = clock
        self._waiter = waiter
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def _forget_old(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()

    def delay(self) -> float:
        """Seconds until the next request may be sent (0.0 if now)."""
        if self.per_window <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._forget_old(now)
            if len(self._sent) < self.per_window:
                return 0.0
            return max(0.0, self._sent[0] + self.window - now)

    def acquire(self, cancel: threading.Event | None = None) -> bool:
        """Wait for a slot and take it; False (no slot taken) if ``cancel`` was set."""
        while True:
            if cancel is not None and cancel.is_set():
                return False
            pause = self.delay()
            if pause <= 0:
                break
            if self._waiter(pause, cancel):
                return False
        with self._lock:
            self._sent.append(self._clock())
        return True

    def eta(self, count: int) -> float:
        """Seconds until ``count`` more requests could all be sent (not counting their duration)."""
        if self.per_window <= 0 or count <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._forget_old(now)
            sent = deque(self._sent)
        t = now
        for _ in range(count):
            if len(sent) >= self.per_window:
                t = max(t, sent.popleft() + self.window)
            sent.append(t)
        return t - now


def utc_today() -> date:
    """Today's date in UTC (VirusTotal's daily quota resets at 00:00 UTC)."""
    return datetime.now(timezone.utc).date()


class DailyUsage:
    """Requests VirusTotal answered per UTC day (any HTTP status: each counts against the
    quota; a request that got no answer does not), persisted as ``{"YYYY-MM-DD": count}``
    in a small JSON file.

    Shared by every process using the same cache directory (file lock + atomic write),
    so status can report today's quota use across kernels and the server.
    """

    def __init__(self, path: Path, today: Callable[[], date] = utc_today) -> None:
        self.path = Path(path)
        self._today = today
        self._lock = FileLock(str(self.path) + ".lock")

    def _load(self) -> dict[str, int]:
        return read_json_or(self.path, {})

    def used_today(self) -> int:
        """Requests recorded for today (UTC)."""
        return self._count(self._load(), self._today())

    def _count(self, data: dict, day: date) -> int:
        value = data.get(day.isoformat(), 0)
        if not isinstance(value, int) or isinstance(value, bool):
            raise damaged(self.path, f"the count {value!r} for {day} is not a whole number")
        return value

    def record(self, count: int = 1) -> int:
        """Add ``count`` requests to today's total; returns the new total."""
        today = self._today()
        oldest = (today - timedelta(days=USAGE_KEEP_DAYS)).isoformat()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            data = {day: n for day, n in self._load().items() if day >= oldest}
            total = self._count(data, today) + count
            data[today.isoformat()] = total
            atomic_write_json(self.path, data)
        return total
