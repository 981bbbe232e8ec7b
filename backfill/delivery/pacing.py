"""Adaptive sending: the concurrency window and the rate (`adaptive`) fed by every attempt, the
gate that admits workers up to the window, and the figures the report and the bar show.

Each HTTP attempt is timed on its own (`started`/`answered` around one request). A worker holds
a slot of the gate for a whole body, retries included, so the window bounds the bodies held in
memory too; the byte budget (`BUDGET`) caps the window at what that many bodies of the mean
size take."""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

from backfill.delivery.adaptive import Rate, Window, little
from backfill.delivery.ratelimit import RateLimiter
from backfill.delivery.sender import Kind, Outcome

BUDGET = 64 * 1024 * 1024  # bytes of bodies in flight at most (128 bodies of 500 KB)
START = 16  # the window before anything is known (twice the fixed default)
SAMPLES = 100_000  # round trips kept for the percentiles
NET = 5.0  # seconds a worker waits for a slot before it looks again by itself


class Pacing:
    """One per run: `slot()` for workers, `started`/`answered` around each attempt."""

    def __init__(self, ceiling: int, rate: float, limiter: RateLimiter,
                 clock: Callable[[], float] = time.monotonic, budget: int = BUDGET):
        self.window = Window(ceiling, min(START, ceiling), clock=clock)
        self.rate = Rate(rate, clock=clock)
        self.limiter, self.clock, self.budget = limiter, clock, budget
        self.active = 0  # workers holding a slot
        self.resting = 0  # of them, those waiting to retry: their slot is lent meanwhile
        self.in_flight = 0  # requests on the wire
        self.rtts: deque[float] = deque(maxlen=SAMPLES)
        self.limits: deque[tuple[float, float]] = deque(maxlen=SAMPLES)  # (window, rate)
        self.throttled = 0
        self.answers = 0
        self.bytes_retried = 0
        self._sizes = self._started = 0  # bytes and attempts started, for the mean body
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.waiting: Callable[[], bool] = lambda: False  # bodies ready, no slot free (runner)

    @asynccontextmanager
    async def slot(self, stopping: Callable[[], bool]) -> AsyncIterator[bool]:
        """Wait until fewer than the window's limit hold a slot (a body waiting to retry lends
        its own); yields False when the run is stopping instead (the worker then leaves).
        Waiters are woken one per free slot, in order, never all at once. One event loop:
        no lock is needed."""
        while self._full() and not stopping():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, NET)  # `wake_all` on a stop; this is a net
            except TimeoutError:
                with contextlib.suppress(ValueError):  # not left behind: idle workers of a
                    self._waiters.remove(waiter)      # long run would pile up there
        if stopping():
            yield False
            return
        self.active += 1
        try:
            yield True
        finally:
            self.active -= 1
            self._wake()

    def _full(self) -> bool:
        return self.active - self.resting >= self.window.allowed

    def _wake(self, free: float | None = None) -> None:
        """As many waiting workers as there are free slots (or `free` of them)."""
        if free is None:
            free = self.window.allowed - (self.active - self.resting)
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def wake_all(self) -> None:
        """The run is stopping: every waiting worker looks, and leaves."""
        self._wake(math.inf)

    @contextlib.contextmanager
    def rest(self) -> Iterator[None]:
        """A body waiting to retry lends its slot (at most `--concurrency` bodies are held)."""
        self.resting += 1
        self._wake()
        try:
            yield
        finally:
            self.resting -= 1

    def started(self, size: int, retry: bool) -> tuple[float, int]:
        self.in_flight += 1
        self._sizes += size
        self._started += 1
        if retry:
            self.bytes_retried += size
        return self.clock(), self.in_flight

    def answered(self, token: tuple[float, int], outcome: Outcome) -> None:
        began, at_start = token
        # the window binds when it was full, or when bodies wait that no slot may take
        in_flight = self.window.allowed if self.waiting() else max(at_start, self.in_flight)
        self.in_flight -= 1
        self.answers += 1
        seconds = self.clock() - began
        if outcome.kind is Kind.RETRY:
            self.window.backpressure()
            if outcome.status == 429:
                self.throttled += 1
                self.rate.throttled(self.window.recent or seconds, outcome.retry_after or 0.0)
        else:
            self.rtts.append(seconds)
            self.rate.success()
            self.window.success(seconds, in_flight, self._cap())
        self.limits.append((self.window.limit, self.rate.rate))
        if self.limiter.rate != self.rate.rate:
            self.limiter.set_rate(self.rate.rate)
        self._wake()

    def _cap(self) -> float | None:
        """Little's law for the current rate, and the byte budget at the mean body size."""
        cap = little(self.rate.rate, self.window.base_rtt())
        mean = self._sizes / max(self._started, 1)
        by_bytes = self.budget / mean if mean else None
        caps = [c for c in (cap, by_bytes) if c is not None]
        return min(caps) if caps else None

    def figures(self) -> dict[str, Any]:
        """What the report says of the sending: the window and the rate (now, min, median,
        max), round trips (p50, p99, ms), the 429s and the bytes sent again."""
        def spread(values: list[float], now: float) -> dict[str, float]:
            values = values or [now]
            return {"now": round(now, 1), "min": round(min(values), 1),
                    "median": round(statistics.median(values), 1),
                    "max": round(max(values), 1)}

        rtts = sorted(self.rtts)
        pick = (lambda q: round(1000 * rtts[min(len(rtts) - 1, int(q * len(rtts)))], 1)) \
            if rtts else (lambda q: None)
        return {"adaptive": True,
                "concurrency": spread([w for w, _ in self.limits], self.window.limit),
                "rate": spread([r for _, r in self.limits], self.rate.rate),
                "latency_ms": {"p50": pick(0.5), "p99": pick(0.99)},
                "throttled": self.throttled,
                "throttled_share": round(self.throttled / self.answers, 4) if self.answers
                else 0.0,
                "bytes_retried": self.bytes_retried}
