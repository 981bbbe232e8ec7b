"""The Python API inside running event loops (a notebook cell, an async service, a thread with
its own loop) and around a caller's signal handlers: `run` works there, `arun` does not block
the loop, and the caller's handlers are the same after the call."""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest
from helpers.emulated import KEY, SITE, start, stored

import backfill
from backfill.emulator import Faults

MAPPING = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
           "    identifiers: {id: user_id}\n")


def rows(n: int) -> list[dict]:
    return [{"user_id": f"u{i}"} for i in range(n)]


@pytest.fixture
def emulator(tmp_path):
    emu, store = start(tmp_path)
    yield emu, store
    emu.stop()


def test_run_inside_a_running_loop_as_a_notebook_cell_calls_it(emulator):
    emu, store = emulator

    async def cell() -> backfill.Report:
        return backfill.run(MAPPING, rows(50), site_id=SITE, api_key=KEY, endpoint=emu.url)

    report = asyncio.run(cell())
    assert report.exit_code == 0 and report.operations_delivered == 50
    assert len(stored(store)) == 50


def test_arun_lets_the_loop_serve_others_meanwhile(tmp_path):
    emu, _ = start(tmp_path, faults=Faults(latency_ms=(100, 100), seed=1))  # 0.2 s at least
    ticks = []

    async def service() -> backfill.Report:
        async def tick() -> None:
            while True:
                ticks.append(1)
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        report = await backfill.arun(MAPPING, rows(2000), site_id=SITE, api_key=KEY,
                                     endpoint=emu.url)
        ticker.cancel()
        return report

    try:
        report = asyncio.run(service())
    finally:
        emu.stop()
    assert report.exit_code == 0 and report.operations_delivered == 2000
    assert len(ticks) >= 10  # the loop went on while the run did (0.2 s at least: 20 ticks)


def test_run_from_a_thread_that_has_its_own_running_loop(emulator):
    emu, _ = emulator
    result: list = []

    def worker() -> None:
        async def main() -> None:
            result.append(backfill.run(MAPPING, rows(20), site_id=SITE, api_key=KEY,
                                       endpoint=emu.url))
        asyncio.run(main())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(60)
    assert result and result[0].exit_code == 0


def test_the_callers_signal_handlers_are_the_same_after_a_run(emulator):
    emu, _ = emulator

    def mine(signum, frame):  # a scheduler's, say Airflow's task runner's
        pass

    before = {s: signal.signal(s, mine) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        report = backfill.run(MAPPING, rows(20), site_id=SITE, api_key=KEY, endpoint=emu.url)
        assert report.exit_code == 0
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
