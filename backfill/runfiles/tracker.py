"""Rows done, per input, during a run: what the checkpoint saves (`RowSet`s), written by the
senders' acknowledgements and the flow's settlements, read by the flow to skip rows."""

from __future__ import annotations

import threading

import polars as pl

from backfill.contract import ROW, Batch
from backfill.runfiles.checkpoint import RowSet


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
        if not rows.ranges:
            return row < rows.watermark
        starts = pl.Series([a for a, _ in rows.ranges], dtype=pl.Int64)
        ends = pl.Series([b for _, b in rows.ranges], dtype=pl.Int64)
        at = pl.lit(starts).search_sorted(row, side="right").cast(pl.Int64) - 1  # its range
        inside = (at >= 0) & (row <= pl.lit(ends).gather(at.clip(0)))
        return (row < rows.watermark) | inside

    def settled(self, input_index: int, rows: list[int] | pl.Series) -> None:
        self.settled_runs(input_index, runs(rows))

    def settled_runs(self, input_index: int, found: list[tuple[int, int]]) -> None:
        with self.lock:
            for first, last in found:
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


def runs(rows: list[int] | pl.Series) -> list[tuple[int, int]]:
    """Rows as (first, last) runs of consecutive numbers, computed by polars."""
    if not len(rows):
        return []
    frame = pl.DataFrame({"r": pl.Series(rows, dtype=pl.Int64)}).sort("r")
    found = frame.group_by((pl.col("r").diff().fill_null(1) != 1).cum_sum().alias("g"),
                           maintain_order=True).agg(pl.col("r").first().alias("a"),
                                                    pl.col("r").last().alias("b"))
    return list(found.select("a", "b").iter_rows())
