"""Rows done, per input, during a run: what the checkpoint saves (`RowSet`s), written by the
senders' acknowledgements and the flow's settlements, read by the flow to skip rows."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import polars as pl

from backfill.contract import ROW, Batch
from backfill.state.checkpoint import RowSet


class RunTracker:
    """Rows done, per input: read by the producer thread, written by acks and settlements."""

    def __init__(self, done: list[RowSet]):
        self.done = done
        self.before = [RowSet(d.watermark, list(d.ranges)) for d in done]
        self.totals: dict[int, int] = {}
        self.lock = threading.Lock()
        self.dirty = False

    def skipped(self, input_index: int) -> pl.Expr | None:
        rows = self.before[input_index]
        if rows.watermark == 0 and not rows.ranges:
            return None
        row = pl.col(ROW)
        return pl.any_horizontal([row < rows.watermark,
                                  *[row.is_between(a, b) for a, b in rows.ranges]])

    def settled(self, input_index: int, rows: list[int]) -> None:
        with self.lock:
            for first, last in _runs(sorted(rows)):
                self.done[input_index].add(first, last)
            self.dirty = True

    def finished_input(self, input_index: int, rows: int) -> None:
        with self.lock:
            self.totals[input_index] = rows

    def ack(self, batch: Batch) -> None:
        with self.lock:
            for i, first, last in batch.spans:
                if i < len(self.done):  # not the operations undoing missing keys (--missing)
                    self.done[i].add(first, last)
            self.dirty = True

    def complete(self) -> None:
        with self.lock:
            for i, rows in self.totals.items():
                if rows:
                    self.done[i].add(0, rows - 1)

    def count(self) -> int:
        with self.lock:
            return sum(d.count() for d in self.done)


def _runs(rows: list[int]) -> Iterator[tuple[int, int]]:
    start = prev = None
    for r in rows:
        if start is None:
            start = prev = r
        elif r == prev + 1:
            prev = r
        else:
            yield start, prev
            start = prev = r
    if start is not None:
        yield start, prev
