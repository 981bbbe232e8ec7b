from __future__ import annotations

import asyncio

from backfill.ratelimit import RateLimiter


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
    assert min(gaps) >= 0.1 - 1e-9
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
