"""Tonight against the state: which operations to send, which rows are unchanged, which keys
are gone. In memory, no I/O: `runner` loads the state (`store.load`) and journals the acks.

The state's key hashes are sorted, with a directory of where each of 2^22 hash prefixes starts,
so a chunk's 50k keys are found with a few gathers (8 ms; a binary search took 22). `lookup` is
read-only and runs in the pool's threads; `decide` runs in data order on the flow's thread.

An operation is skipped when its bytes are those of the operation in effect for its key: the
one before it tonight, or else the one delivered last time. Every operation is idempotent once
the same bytes are in effect (an identify of the same attributes changes nothing; an event's
key is its bytes, id included), so the API ends as if everything had been sent. A key seen
twice tonight with different bytes sends both, in order: the second may undo the first.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from backfill.contract import JSON, NBYTES, OP, ROW
from backfill.state.keys import CH, KEY, KH, mirror_ops
from backfill.state.store import MIRRORED_OP

POS = "__pos"  # an operation's key's index in the state (null: a new key)
_BITS = 22
_SHIFT = 2 ** (64 - _BITS)


@dataclass
class RowCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0


class Differ:
    """The state's keys (`KH`, `CH`), what tonight has seen of them, and the rule above."""

    def __init__(self, state: pl.DataFrame, resend: bool = False):
        self.kh = state.get_column(KH).rechunk()
        self.ch = state.get_column(CH).rechunk()
        self.resend = resend  # a changed mapping, `--full`: everything is sent
        self.restart()
        buckets = (self.kh // _SHIFT).cast(pl.UInt32).rle()
        starts = pl.Series([0] * (2 ** _BITS + 1), dtype=pl.UInt32)
        ends = buckets.struct.field("len").cum_sum().cast(pl.UInt32)
        starts.scatter(buckets.struct.field("value") + 1, ends)
        self.directory = starts.cum_max()  # empty buckets start where the last one ended

    def __len__(self) -> int:
        return len(self.kh)

    def lookup(self, ops: pl.DataFrame) -> pl.DataFrame:
        """`ops` (with `KH`) with `POS`: where its key is in the state, null when new."""
        index = ops.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("i"), KH)
        if not len(self.kh):
            return ops.with_columns(pl.lit(None, dtype=pl.UInt32).alias(POS))
        bucket = (pl.col(KH) // _SHIFT).cast(pl.UInt32)
        d, kh = pl.lit(self.directory), pl.lit(self.kh)
        found = index.with_columns(pl.int_ranges(d.gather(bucket), d.gather(bucket + 1),
                                                 dtype=pl.UInt32).alias(POS)) \
            .explode(POS).drop_nulls(POS).filter(kh.gather(pl.col(POS)) == pl.col(KH))
        positions = pl.Series(POS, [None] * ops.height, dtype=pl.UInt32)
        if found.height:
            positions.scatter(found.get_column("i"), found.get_column(POS))
        return ops.with_columns(positions)

    def decide(self, ops: pl.DataFrame, census: bool = False) -> tuple[pl.DataFrame, list[int],
                                                                        RowCounts]:
        """In data order: the operations to send, the rows left with none (unchanged), and the
        rows' counts. `census`: only mark what is present (nothing is sent)."""
        known = ops.get_column(POS).drop_nulls()
        self.present.scatter(known, True)
        if census:
            return ops.clear(), [], RowCounts()
        # the operation in effect before this one: the one before it in this chunk, else the
        # last one tonight, else the one in the state
        before = pl.coalesce(pl.col(CH).shift(1).over(POS),
                             pl.lit(self.last).gather(pl.col(POS)))
        skip = (pl.col(POS).is_not_null() & (before == pl.col(CH))).fill_null(False)
        marked = ops.with_columns((skip & ~pl.lit(self.resend)).alias("__skip"))
        if len(known):
            latest = ops.filter(pl.col(POS).is_not_null()).unique(POS, keep="last")
            self.last.scatter(latest.get_column(POS), latest.get_column(CH))
        rows = marked.group_by(ROW, maintain_order=True).agg(
            pl.len().alias("n"), pl.col(POS).is_not_null().sum().alias("f"),
            pl.col("__skip").sum().alias("s"))
        unchanged = rows.filter(pl.col("s") == pl.col("n"))
        counts = RowCounts(new=rows.filter(pl.col("f") == 0).height, unchanged=unchanged.height)
        counts.changed = rows.height - counts.new - counts.unchanged
        return (marked.filter(~pl.col("__skip")).drop("__skip", POS),
                unchanged.get_column(ROW).to_list(), counts)

    def mark_present(self, ops: pl.DataFrame) -> None:
        """Keys of rows rejected tonight: still in the input, so never "missing"."""
        self.present.scatter(ops.get_column(POS).drop_nulls(), True)

    def missing(self) -> pl.Series:
        """Positions of the state's keys that tonight's input did not hold."""
        return (~self.present).arg_true()

    def restart(self) -> None:
        """Tonight not seen yet (again, after a census pass)."""
        self.last = self.ch.clone()  # per key: the bytes in effect (hash), tonight's last
        self.present = pl.Series("present", [False] * len(self.kh), dtype=pl.Boolean)


def mirror_frame(keys: pl.DataFrame, action: str) -> pl.DataFrame:
    """Operations undoing missing keys (`KH`, `KEY` from the state file), as the packer takes
    them: one a row, numbered from 0, `OP` marking them as mirrored; keys with no undo dropped."""
    json = mirror_ops(keys.get_column(KEY), action)
    return keys.select(KH, KEY).with_columns(json, pl.lit(0, dtype=pl.UInt64).alias(CH)) \
        .filter(pl.col(JSON).is_not_null()).with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).alias(ROW),
            pl.lit(MIRRORED_OP, dtype=pl.Int32).alias(OP),
            pl.col(JSON).str.len_bytes().cast(pl.Int64).alias(NBYTES)) \
        .select(ROW, OP, JSON, NBYTES, KH, CH, KEY)

