"""One rate limit shared by every worker. Pure logic over an injected clock and sleep.

Two rules together: requests are scheduled 1/rate apart (anchored on the schedule, so a late
wake-up does not lower the rate), and no window of WINDOW seconds ever holds more than `rate`
grants (a strict cap; WINDOW is a little over a second so that network jitter cannot push a
second's worth of requests into the server's one-second bucket). `pause(seconds)` (a
Retry-After) holds every worker.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

WINDOW = 1.01


class RateLimiter:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._paused_until = 0.0
        self._recent: deque[float] = deque(maxlen=max(1, math.floor(rate)))

    def set_rate(self, rate: float) -> None:
        """A new rate from now on (the adaptive rate moved); the window's cap follows it."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate, self.interval = rate, 1.0 / rate
        size = max(1, math.floor(rate))
        if size != self._recent.maxlen:
            self._recent = deque(self._recent, maxlen=size)

    def pause(self, seconds: float) -> None:
        """Hold every worker for `seconds` from now (the API asked us to wait)."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    def _earliest(self) -> float:
        slot = max(self._next, self._paused_until)
        if len(self._recent) == self._recent.maxlen:
            slot = max(slot, self._recent[0] + WINDOW)
        return slot

    async def acquire(self) -> None:
        """Wait for this caller's slot."""
        while True:
            now = self.clock()
            slot = self._earliest()
            if slot <= now:
                self._recent.append(now)
                # stay on the schedule after a late wake-up (up to half an interval late),
                # but never bank idle time
                self._next = max(slot, now - self.interval / 2) + self.interval
                return
            await self.sleep(slot - now)
