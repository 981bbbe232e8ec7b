"""Tonight against the state: which operations to send, which rows are unchanged, which keys
are gone. In memory, no I/O: `nightly` loads the state (`statefile.read_state`) and journals the acks.

The state's key hashes are sorted; a directory says where each of 2^22 hash prefixes starts, so
a key is found with a few gathers (cheaper than a binary search), and only the
low 32 bits of each key hash are held (the prefix is the directory's): 10M keys take 40 MB of
key hashes, 80 MB of content hashes and two bitmaps. A new key that matches a state key on those
54 bits (about 1 in 2 billion lookups) is compared with that key's bytes: "changed", sent.

An operation is skipped when its bytes are those of the operation in effect for its key: the
one before it tonight, or else the one delivered last time. Every operation is idempotent once
the same bytes are in effect (an identify of the same attributes changes nothing; an event's
key is its bytes, id included), so the API ends as if everything had been sent. A key whose
bytes changed tonight is sent again at each later occurrence in another chunk (the bytes in
effect are not kept per key: a bitmap says only that they differ from the state's).

`lookup` runs in the pool's threads and does everything that does not depend on earlier
chunks; `decide` runs in data order on the flow's thread, with bitmaps only.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from backfill.contract import JSON, NBYTES, OP, ROW
from backfill.nightly.keys import CH, KEY, KH, REL, event_time, mirror_ops
from backfill.nightly.statefile import MIRRORED_OP
from backfill.runfiles.tracker import runs

POS = "__pos"  # an operation's key's index in the state (null: a new key)
SAME = "__same"  # its bytes are the state's
FIRST, FINAL, AGAIN = "__first", "__final", "__again"  # within a chunk, per key
TIME = "__time"  # --event-watermark: an event's time
_BITS = 22
_SHIFT = 2 ** (64 - _BITS)
_LOW = 2 ** 32


@dataclass
class RowCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass
class Verdict:
    """A chunk decided in the pool, as if no earlier chunk had held its keys; what `decide`
    needs is ready, so the flow's thread makes few calls (each may wait for the GIL)."""

    ops: pl.DataFrame  # with POS, SAME, "__skip" (and FIRST, FINAL, AGAIN)
    counts: RowCounts
    unchanged: pl.Series  # rows whose operations are all skipped
    send: pl.DataFrame  # the operations to send, if no earlier chunk changed a skipped key
    known: pl.Series  # the state's positions of the keys in the chunk
    skipped: pl.Series  # positions of keys skipped at their first operation in the chunk
    final: pl.Series  # positions of keys at their last operation in the chunk
    final_changed: pl.Series  # whether that operation's bytes differ from the state's
    runs: list[tuple[int, int]]  # `unchanged` as runs of consecutive rows
    sent_by_op: dict[int, int]  # operations to send, by their index in the mapping
    latest_event: int | None  # --event-watermark: the latest time of an event to send

    @classmethod
    def of(cls, marked: pl.DataFrame) -> Verdict:
        first = pl.col(FIRST) if FIRST in marked.columns else pl.lit(True)
        final = marked.filter(pl.col(POS).is_not_null() & (
            pl.col(FINAL) if FINAL in marked.columns else pl.lit(True)))
        counts, unchanged = _rows(marked)
        sending = marked.filter(~pl.col("__skip"))
        latest = sending.get_column(TIME).max() if TIME in sending.columns else None
        send = _clean(sending)
        return cls(marked, counts, unchanged, send, marked.get_column(POS).drop_nulls(),
                   marked.filter(pl.col("__skip") & first).get_column(POS),
                   final.get_column(POS), ~final.get_column(SAME), runs(unchanged),
                   dict(send.get_column(OP).value_counts().iter_rows()), latest)


class Differ:
    """The state's keys, what tonight has seen of them, and the rule above."""

    def __init__(self, state: pl.DataFrame, resend: bool = False,
                 events: list[int] | None = None, watermark: int | None = None):
        kh = state.get_column(KH)
        self.low = (kh % _LOW).cast(pl.UInt32).rechunk()
        self.ch = state.get_column(CH).rechunk()
        self.resend = resend  # a changed mapping, `--full`: everything is sent
        # --event-watermark: these mapping operations are not keyed; an event is sent when its
        # time is at or after the watermark (the latest event time of the last finished run)
        self.events, self.watermark = events, watermark
        self.latest_event: int | None = None  # tonight's latest event time sent
        buckets = (kh // _SHIFT).cast(pl.UInt32).rle()
        starts = pl.zeros(2 ** _BITS + 1, dtype=pl.UInt32, eager=True)
        starts.scatter(buckets.struct.field("value") + 1,
                       buckets.struct.field("len").cum_sum().cast(pl.UInt32))
        self.directory = starts.cum_max()  # empty buckets start where the last one ended
        self.restart()

    def __len__(self) -> int:
        return len(self.ch)

    def restart(self) -> None:
        """Tonight not seen yet (again, after a census pass)."""
        self.present = pl.repeat(False, len(self.ch), dtype=pl.Boolean, eager=True)
        self.diverged = self.present.clone()  # tonight's last bytes differ from the state's

    def lookup(self, ops: pl.DataFrame) -> Verdict:
        """In a pool thread: `ops` (with `KH`, `CH`) found in the state, and decided as if no
        earlier chunk had held their keys (`decide` checks that, in order)."""
        if self.events:
            event = pl.col(OP).is_in(self.events)
            ops = ops.with_columns(pl.when(event).then(event_time(pl.col(JSON))).alias(TIME),
                                   pl.when(~event).then(pl.col(KH)).alias(KH))
        marked = self._found(ops)
        skip = pl.col(POS).is_not_null() & (
            pl.when(pl.col(FIRST)).then(pl.col(SAME)).otherwise(pl.col(AGAIN))
            if FIRST in marked.columns else pl.col(SAME))
        if self.events and self.watermark is not None:
            skip = skip | (pl.col(TIME) < self.watermark).fill_null(False)
        marked = marked.with_columns((skip.fill_null(False) & ~pl.lit(self.resend))
                                     .alias("__skip"))
        # a skipped key is in the state, its text too: not kept while the chunk waits
        marked = marked.with_columns(pl.when(~pl.col("__skip")).then(pl.col(KEY)).alias(KEY))
        return Verdict.of(marked)

    def _found(self, ops: pl.DataFrame) -> pl.DataFrame:
        """`POS` (null for a new key), `SAME`, and, when a key comes twice in the chunk,
        `FIRST`, `FINAL` and `AGAIN` (its bytes are those before it)."""
        positions = pl.repeat(None, ops.height, dtype=pl.UInt32, eager=True).alias(POS)
        if len(self.ch) and ops.height:  # Series gathers: through `pl.lit` they cost several times more
            kh = ops.get_column(KH)
            bucket = (kh // _SHIFT).cast(pl.UInt32)
            candidates = pl.DataFrame({
                "i": pl.int_range(0, ops.height, dtype=pl.UInt32, eager=True),
                "a": self.directory.gather(bucket), "b": self.directory.gather(bucket + 1),
                "k": (kh % _LOW).cast(pl.UInt32)}) \
                .select("i", "k", pl.int_ranges("a", "b", dtype=pl.UInt32).alias(POS)) \
                .explode(POS).drop_nulls(POS)
            found = candidates.filter(self.low.gather(candidates.get_column(POS))
                                      == candidates.get_column("k"))
            if found.height:
                positions.scatter(found.get_column("i"), found.get_column(POS))
        same = self.ch.gather(positions) == ops.get_column(CH)
        out = ops.with_columns(positions, same.fill_null(False).alias(SAME))
        if positions.drop_nulls().is_duplicated().any():
            out = out.with_columns(
                pl.col(POS).is_first_distinct().alias(FIRST),
                pl.col(POS).is_last_distinct().alias(FINAL),
                (pl.col(CH) == pl.col(CH).shift(1).over(POS)).fill_null(False).alias(AGAIN))
        return out

    def decide(self, verdict: Verdict, census: bool = False) -> Verdict | None:
        """In data order: the verdict that stands (the pool's, unless a key it skipped changed
        earlier tonight, in another chunk). `census`: only mark what is present (None)."""
        if census:
            self.present.scatter(verdict.known, True)
            return None
        if len(verdict.skipped) and (self.present.gather(verdict.skipped)
                                     & self.diverged.gather(verdict.skipped)).any():
            verdict = self._history(verdict)
        self.present.scatter(verdict.known, True)
        self.diverged.scatter(verdict.final, verdict.final_changed)
        if verdict.latest_event is not None:
            self.latest_event = verdict.latest_event if self.latest_event is None else \
                max(self.latest_event, verdict.latest_event)
        return verdict

    def _history(self, verdict: Verdict) -> Verdict:
        """Send again the first operation of a key whose bytes changed in an earlier chunk."""
        marked, pos = verdict.ops, verdict.ops.get_column(POS)
        before = (self.present.gather(pos) & self.diverged.gather(pos)).fill_null(False)
        first = pl.col(FIRST) if FIRST in marked.columns else pl.lit(True)
        return Verdict.of(marked.with_columns(pl.when(first & before).then(False)
                                              .otherwise(pl.col("__skip")).alias("__skip")))

    def positions(self, ops: pl.DataFrame) -> pl.Series:
        """Where these operations' keys are in the state (those that are)."""
        return self._found(ops).get_column(POS).drop_nulls()

    def mark_present(self, positions: pl.Series) -> None:
        """Keys of rows rejected tonight: still in the input, so never "missing"."""
        self.present.scatter(positions, True)

    def missing(self) -> pl.Series:
        """Positions of the state's keys that tonight's input did not hold."""
        return (~self.present).arg_true()


def _rows(marked: pl.DataFrame) -> tuple[RowCounts, pl.Series]:
    """Per row: new (no key in the state), unchanged (every operation skipped), or changed."""
    if (marked.get_column(ROW).diff() == 0).any():  # rows of several operations
        rows = marked.group_by(ROW, maintain_order=True).agg(
            pl.len().alias("n"), pl.col(POS).is_not_null().sum().alias("f"),
            pl.col("__skip").sum().alias("s"))
        unchanged = rows.filter(pl.col("s") == pl.col("n")).get_column(ROW)
        new = rows.filter((pl.col("f") == 0) & (pl.col("s") < pl.col("n"))).height
        return RowCounts(new, rows.height - new - len(unchanged), len(unchanged)), unchanged
    unchanged = marked.filter(pl.col("__skip")).get_column(ROW)
    new = marked.filter(pl.col(POS).is_null() & ~pl.col("__skip")).height
    return RowCounts(new, marked.height - new - len(unchanged), len(unchanged)), unchanged


def _clean(ops: pl.DataFrame) -> pl.DataFrame:
    return ops.drop([c for c in ops.columns
                     if c in (POS, SAME, FIRST, FINAL, AGAIN, TIME, "__skip")])


def mirror_frame(keys: pl.DataFrame, action: str) -> pl.DataFrame:
    """Operations undoing missing keys (`KH`, `KEY`), as the packer takes them: one a row,
    numbered from 0, `OP` marking them as undos; keys with no undo dropped."""
    json = mirror_ops(keys.get_column(KEY), action)
    return keys.select(KH, KEY).with_columns(json, pl.lit(0, dtype=pl.UInt64).alias(CH)) \
        .filter(pl.col(JSON).is_not_null()).with_columns(
            pl.int_range(pl.len(), dtype=pl.Int64).alias(ROW),
            pl.lit(MIRRORED_OP, dtype=pl.Int32).alias(OP),
            pl.col(JSON).str.len_bytes().cast(pl.Int64).alias(NBYTES)) \
        .with_columns(pl.lit(None, dtype=pl.String).alias(REL)) \
        .select(ROW, OP, JSON, NBYTES, KH, CH, KEY, REL)
