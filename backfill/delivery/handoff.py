"""Bodies from the reader thread to the event loop's workers, in order, at most `size` waiting.

The reader waits only when `size` bodies are waiting (a semaphore), never for the event loop to
take each one. Waiting for the loop (`run_coroutine_threadsafe(queue.put(...)).result()`) would
cost the time the loop's thread takes to get the GIL back from the encoders, for every body,
and the reader, which also hands the encoders their work, would do nothing meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Generic, TypeVar

T = TypeVar("T")
WAKE_S = 0.2  # how often a waiting reader looks whether the run is stopping


class Handoff(Generic[T]):
    """`put` from one thread; `get`, `drain` and `end` in the event loop's."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int):
        self.loop = loop
        self.queue: asyncio.Queue[T | None] = asyncio.Queue()
        self.slots = threading.Semaphore(size)

    def put(self, item: T | None, stop: threading.Event) -> bool:
        """Hand `item` over (None: an end mark, never waits); False when the run is stopping
        or the loop is gone."""
        if item is not None:
            while not self.slots.acquire(timeout=WAKE_S):
                if stop.is_set():
                    return False
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody takes it
            return False
        return True

    async def get(self) -> T | None:
        item = await self.queue.get()
        if item is not None:
            self.slots.release()
        return item

    def drain(self) -> None:
        """Drop what waits (unsent bodies are not acknowledged: a resume sends them)."""
        while not self.queue.empty():
            if self.queue.get_nowait() is not None:
                self.slots.release()

    def end(self, workers: int) -> None:
        for _ in range(workers):
            self.queue.put_nowait(None)
