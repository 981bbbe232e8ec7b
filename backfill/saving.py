"""The checkpoint kept while a run sends: what a row left on disk before the row counts done
(rejects, then the state's journal, then the checkpoint), saved every few seconds when rows
settled and at the end, with the progress line refreshed between."""

from __future__ import annotations

import asyncio
import threading
import time

from backfill.errors import OutputFailed
from backfill.flow import Plan
from backfill.nightly.night import NightlyRun
from backfill.runfiles.checkpoint import Checkpoint, save
from backfill.runfiles.outputs import writing
from backfill.runfiles.progress import DeliveryBar
from backfill.runfiles.tally import Tally
from backfill.runfiles.tracker import RunTracker


def save_all(path: str | None, checkpoint: Checkpoint, tally: Tally, plan: Plan,
             nightly: NightlyRun | None) -> None:
    """Rejects, then the journal, then the checkpoint: a row counts done only once what it left
    is on disk. The first write that fails raises `OutputFailed`, and nothing after it is
    written: the checkpoint saved before stays the valid one."""
    tally.flush()  # the rejects writer says its own failure
    if nightly is not None:
        with writing(nightly.opts.path, "state journal of"):
            nightly.flush()
    with writing(path or "", "checkpoint"):
        _save(path, checkpoint, tally, plan)


def _save(path: str | None, checkpoint: Checkpoint, tally: Tally, plan: Plan) -> None:
    for i, source in enumerate(plan.sources):  # a keyed source: where a resume starts
        point = source.resume_point(checkpoint.done[i].watermark) if source.keyed else None
        if point is not None:
            checkpoint.resume[i] = point
    if path is not None:
        checkpoint.counters = tally.carried()
        save(path, checkpoint)


async def keep_saving(path: str | None, every: float, tracker: RunTracker,
                      checkpoint: Checkpoint, tally: Tally, bar: DeliveryBar,
                      nightly: NightlyRun | None, plan: Plan, stop: threading.Event,
                      failures: list[BaseException]) -> None:
    """Save the checkpoint every few seconds when something changed; refresh the progress."""
    started = last_save = time.monotonic()
    while True:
        await asyncio.sleep(min(every, 0.5))
        show(bar, tracker, tally, started)
        if tracker.dirty and time.monotonic() - last_save >= every:
            tracker.dirty = False
            try:  # a settled row's reject line and journal entries are on disk before it
                with tracker.lock:
                    save_all(path, checkpoint, tally, plan, nightly)
            except OutputFailed as exc:  # a full disk: sending stops at once
                failures.append(exc)
                stop.set()
                return
            last_save = time.monotonic()


def show(bar: DeliveryBar, tracker: RunTracker, tally: Tally, started: float) -> None:
    elapsed = max(time.monotonic() - started, 1e-9)
    bar.show(tracker.count(), tally.get("rows_read") + tally.get("rows_skipped"),
             tally.get("operations_delivered"), tally.get("requests") / elapsed,
             tally.get("retries"), tally.get("rows_rejected") + tally.get("operations_rejected"))
