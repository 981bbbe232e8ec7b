"""The event loop's side of `run`: workers that take bodies from the reader's queue and deliver
them (under the window's slots when sending adapts), and the wait for them that lets requests in
flight finish, within a bound, when the run stops."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from backfill.contract import Batch
from backfill.delivery.handoff import Handoff
from backfill.delivery.pacing import Pacing
from backfill.delivery.retry import Delivery
from backfill.runfiles.tracker import RunTracker


def worker(queue: Handoff[Batch], delivery: Delivery, tracker: RunTracker,
            stop: threading.Event) -> Callable[[], Awaitable[None]]:
    """A worker's loop: take a body, deliver it, record it; with adaptive sending, each body
    taken under a slot of the window (`Pacing.slot`)."""
    async def one() -> bool:
        batch = await queue.get()
        if batch is None:
            return False
        await delivery.deliver(batch)
        tracker.ack(batch)
        return True

    async def work() -> None:
        pacing = delivery.pacing
        while not stop.is_set():
            if pacing is None:
                if not await one():
                    return
                continue
            async with pacing.slot(stop.is_set) as admitted:
                if not admitted or not await one():
                    return
    return work


async def until_done(workers: list[asyncio.Task], stop: threading.Event, drain_s: float,
                      queue: Handoff[Batch], pacing: Pacing | None) -> None:
    """Wait for the workers; on a failure or a stop, let requests in flight finish (bounded)."""
    pending = set(workers)
    while pending:
        done, pending = await asyncio.wait(pending, timeout=0.2,
                                           return_when=asyncio.FIRST_EXCEPTION)
        failed = any(t.exception() is not None for t in done if not t.cancelled())
        if failed or stop.is_set():
            stop.set()
            if pacing is not None:  # workers waiting for a slot leave at once
                pacing.wake_all()
            queue.drain()  # unsent bodies are not acknowledged: resent on resume
            queue.end(len(pending))
            if pending:
                _, late = await asyncio.wait(pending, timeout=drain_s)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            return
