"""One rate limit shared by every worker. Pure logic over an injected clock and sleep.

Requests are spaced at least 1/rate apart (a leaky bucket with a burst of one), so no one-second
window ever holds more than `rate` requests. `pause(seconds)` (a Retry-After) holds every worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class RateLimiter:
    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate + 1e-9  # never rate+1 in a window through rounding
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every worker for `seconds` from now (the API asked us to wait)."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    async def acquire(self) -> None:
        """Wait for this caller's slot. Slots are handed out in call order."""
        while True:
            now = self.clock()
            slot = max(now, self._next, self._paused_until)
            if slot <= now:
                self._next = now + self.interval
                return
            # reserve nothing while waiting: a pause may have moved while we slept
            await self.sleep(slot - now)
