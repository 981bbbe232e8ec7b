from __future__ import annotations

import asyncio

from backfill.delivery.ratelimit import RateLimiter


class FakeTime:
    def __init__(self):
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_requests_are_spaced_so_no_second_holds_more_than_the_rate():
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    times = []

    async def go():
        for _ in range(35):
            await limiter.acquire()
            times.append(t.now)

    asyncio.run(go())
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.05 - 1e-9  # a late wake-up is made up, by half an interval at most
    for start in times:
        assert sum(1 for x in times if start <= x < start + 1) <= 10


def test_pause_holds_every_caller():
    t = FakeTime()
    limiter = RateLimiter(1000, clock=t.clock, sleep=t.sleep)

    async def go():
        await limiter.acquire()
        limiter.pause(2.5)
        await limiter.acquire()

    asyncio.run(go())
    assert t.now >= 102.5


class JitteryTime(FakeTime):
    """Every sleep overshoots by up to 2 ms, as real event loops do."""

    def __init__(self):
        super().__init__()
        import random

        self.rng = random.Random(3)

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + self.rng.uniform(0, 0.002)


def test_late_wake_ups_keep_the_rate_and_never_exceed_it():
    t = JitteryTime()
    limiter = RateLimiter(200, clock=t.clock, sleep=t.sleep)
    times = []

    async def worker():
        for _ in range(250):
            await limiter.acquire()
            times.append(t.now)

    async def go():
        await asyncio.gather(*(worker() for _ in range(8)))

    asyncio.run(go())
    times.sort()
    assert len(times) / (times[-1] - times[0]) >= 190
    for i, start in enumerate(times):
        assert sum(1 for x in times[i:i + 250] if x < start + 1.0) <= 200
