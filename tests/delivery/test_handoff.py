"""Handoff: bodies from a thread to the event loop, in order, bounded, never stuck on a stop."""

from __future__ import annotations

import asyncio
import threading
import time

from backfill.delivery.handoff import Handoff


def test_in_order_bounded_and_ended():
    async def main() -> tuple[list, int]:
        handoff: Handoff[int] = Handoff(asyncio.get_running_loop(), 3)
        stop = threading.Event()
        most = 0

        def reader() -> None:
            for i in range(50):
                assert handoff.put(i, stop)
            handoff.put(None, stop)

        thread = threading.Thread(target=reader)
        thread.start()
        got = []
        while (item := await handoff.get()) is not None:
            await asyncio.sleep(0.001)  # a slow worker: the reader must wait for room
            most = max(most, handoff.queue.qsize())
            got.append(item)
        thread.join()
        return got, most

    got, most = asyncio.run(main())
    assert got == list(range(50))
    assert 1 <= most <= 3 + 1  # three bodies, and the end mark, which takes no room


def test_a_reader_waiting_for_room_gives_up_when_the_run_stops():
    async def main() -> tuple[bool, float]:
        handoff: Handoff[int] = Handoff(asyncio.get_running_loop(), 1)
        stop = threading.Event()
        assert handoff.put(1, stop)  # fills it: nobody takes it
        result: list = []
        thread = threading.Thread(target=lambda: result.append(handoff.put(2, stop)))
        started = time.monotonic()
        thread.start()
        await asyncio.sleep(0.3)
        assert thread.is_alive()  # waiting for room
        stop.set()
        await asyncio.to_thread(thread.join, 5)
        return result[0], time.monotonic() - started

    put, waited = asyncio.run(main())
    assert put is False and waited < 2


def test_drain_frees_the_room_and_end_marks_stop_every_worker():
    async def main() -> list:
        handoff: Handoff[int] = Handoff(asyncio.get_running_loop(), 2)
        stop = threading.Event()
        assert handoff.put(1, stop) and handoff.put(2, stop)
        await asyncio.sleep(0)  # the loop runs the put callbacks
        handoff.drain()
        assert await asyncio.to_thread(handoff.put, 3, stop)  # room again
        await asyncio.sleep(0)
        handoff.end(2)
        return [await handoff.get() for _ in range(3)]

    assert asyncio.run(main()) == [3, None, None]


def test_a_closed_loop_takes_nothing():
    loop = asyncio.new_event_loop()
    handoff: Handoff[int] = Handoff(loop, 2)
    loop.close()
    assert handoff.put(1, threading.Event()) is False
