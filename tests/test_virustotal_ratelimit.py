"""Rate limiting with an injected clock (no sleeps), and the persisted daily counter."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

from jupyter_sauce.virustotal import DailyUsage, RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float, cancel: threading.Event | None) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return cancel is not None and cancel.is_set()


def test_sliding_window_waits_exactly_until_a_slot_frees() -> None:
    fake = FakeTime()
    limiter = RateLimiter(4, 60.0, clock=fake.clock, waiter=fake.wait)
    for _ in range(4):
        assert limiter.acquire()
        fake.now += 1.0
    assert fake.waits == []
    assert limiter.delay() == 56.0  # first request at 1000, now 1004
    assert limiter.acquire()
    assert fake.waits == [56.0]


def test_eta_follows_the_limit() -> None:
    fake = FakeTime()
    limiter = RateLimiter(4, 60.0, clock=fake.clock, waiter=fake.wait)
    assert limiter.eta(4) == 0.0
    assert limiter.eta(5) == 60.0
    assert limiter.eta(9) == 120.0
    assert RateLimiter(0).eta(1000) == 0.0  # no limit


def test_cancel_during_a_wait_takes_no_slot() -> None:
    fake = FakeTime()
    cancel = threading.Event()
    limiter = RateLimiter(1, 60.0, clock=fake.clock, waiter=fake.wait)
    assert limiter.acquire(cancel)
    cancel.set()
    assert limiter.acquire(cancel) is False
    assert len(limiter._sent) == 1


def test_real_small_window_really_waits() -> None:
    import time

    limiter = RateLimiter(2, 0.5)
    start = time.monotonic()
    for _ in range(3):
        assert limiter.acquire()
    assert 0.4 <= time.monotonic() - start < 2.0


def test_daily_usage_is_per_utc_day_and_shared(tmp_path: Path) -> None:
    day = [date(2024, 5, 1)]
    usage = DailyUsage(tmp_path / "usage.json", today=lambda: day[0])
    other_process = DailyUsage(tmp_path / "usage.json", today=lambda: day[0])
    assert usage.used_today() == 0
    usage.record()
    other_process.record(2)
    assert usage.used_today() == 3
    day[0] = date(2024, 5, 2)
    assert usage.used_today() == 0
    usage.record()
    assert (tmp_path / "usage.json").read_text().count("2024-05-0") == 2


def test_concurrent_records_lose_nothing(tmp_path: Path) -> None:
    usage = DailyUsage(tmp_path / "usage.json")
    threads = [
        threading.Thread(target=lambda: [usage.record() for _ in range(10)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert usage.used_today() == 40
