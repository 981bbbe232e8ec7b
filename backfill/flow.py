"""The flow of rows: sources -> parse -> encode and check -> pack, as bodies in order.

Orchestration only: `plan.make_plan` checks every source's columns against the mapping before
any data; `batches` reads, maps, checks and packs, and yields the bodies that `validate` counts or
dumps and `run` sends (`runner.py`). Both commands are in `api`."""

from __future__ import annotations

import concurrent.futures
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from backfill.contract import ROW, Batch, EncodedChunk, Source, offset
from backfill.delivery.packer import Packer
from backfill.errors import MappingError
from backfill.mapping.campaigns import campaign_words
from backfill.mapping.config import check_columns
from backfill.mapping.encode import Encoder, with_records
from backfill.mapping.paths import roots
from backfill.nightly.diff import POS, Differ, Verdict
from backfill.nightly.keys import with_keys
from backfill.plan import Plan, make_plan
from backfill.runfiles.tally import Tally
from backfill.sources.files import Input, InputReader
from backfill.tuning import cores

__all__ = ["Plan", "batches", "make_plan"]  # a plan is made in `plan.py`


class Tracker(Protocol):
    """What `batches` tells the run about rows (validate passes none)."""

    def skipped(self, input_index: int) -> pl.Expr | None:
        """A boolean expression on __row: true for rows done by an earlier run."""

    def settled(self, input_index: int, rows: list[int] | pl.Series) -> None:
        """Rows done without sending anything: rejected, or with no operation to send."""

    def settled_runs(self, input_index: int, runs: list[tuple[int, int]]) -> None:
        """The same, as runs of consecutive rows (first, last)."""

    def finished_input(self, input_index: int, rows: int) -> None:
        """Every row of this input has been read."""


# Threads that parse, map and assemble, a chunk each: polars releases the GIL (the CLI sizes
# polars' own pool: `tuning.tune_polars`), so one thread a core keeps the cores busy. At most
# 8: past that the in-order thread that reads and cuts is the limit.
ENCODERS = max(2, min(cores(), 8))
# Blocks waiting at each stage beyond the running ones. `validate`: 2 on 2 cores (fewer leaves
# a thread waiting, more is no faster); `run` passes 1: its queue of bodies already runs ahead
# of the sending, and a second block is memory for no speed. More threads, more in flight.
AHEAD = 2


@dataclass
class _Pending:
    """A chunk whose operations are being built in the pool."""

    index: int
    name: str
    read_rejects: list
    encoded: concurrent.futures.Future | None
    bytes_done: int


class Incremental(Protocol):
    """With --state (`runner`): tonight's operations against the state (`nightly.diff.Differ`)."""

    differ: Differ
    census: bool  # a first pass that only sees which keys are present

    @property
    def mirrors(self) -> bool:
        """Whether `--missing` undoes tonight what is gone (relationships are then kept)."""

    def noted(self, sent: pl.DataFrame) -> None:
        """Tonight's operations decided to be sent (relationships moved are found from them)."""

    def mirrored(self) -> pl.DataFrame | None:
        """After every input: the operations undoing the keys gone from it (`--missing`)."""


def _encode(encoder: Encoder, frame: pl.DataFrame, name: str, settle: bool,
            nightly: Incremental | None = None, reread: Callable[[], pl.DataFrame] | None = None
            ) -> tuple[EncodedChunk, list[int], tuple[Verdict, pl.Series] | None]:
    """In a pool thread: the chunk's operations, its rows that have none to send, and, with
    --state, the operations decided against the state (`Differ.lookup`) and the state's
    positions of the keys of rejected rows. `reread`: the block's frame of every column (this
    one holds the mapping's), whose rows the rejects show."""
    encoded = encoder.encode(frame, name)
    if reread is not None and encoded.rejects:
        encoded.rejects[:] = with_records(encoded.rejects, reread())
    empty: list[int] = []
    if settle:
        empty = frame.select(ROW).join(encoded.ops.select(pl.col(ROW).unique()), on=ROW,
                                       how="anti").get_column(ROW).to_list()
    if nightly is None:
        return encoded, empty, None
    kinds = [(op.type, op.action, op.is_event) for op in encoder.mapping.operations]
    verdict = nightly.differ.lookup(with_keys(encoded.ops, kinds, nightly.mirrors))
    rejected = pl.Series(POS, [], pl.UInt32) if encoded.rejected_ops is None else \
        nightly.differ.positions(with_keys(encoded.rejected_ops, kinds))
    return encoded, empty, (verdict, rejected)


def batches(plan: Plan, tally: Tally,
            on_progress: Callable[[int], None] | None = None, tracker: Tracker | None = None,
            stop: threading.Event | None = None, build: bool = True,
            ahead: int = AHEAD, nightly: Incremental | None = None,
            say: Callable[[str], None] | None = None) -> Iterator[Batch]:
    """Read, map, check and pack every input; yield full bodies as they are ready.
    `build=False`: the bodies' bytes are joined only if read (validate without a dump).
    `say`: told once, before the first body holding them is yielded, of the events that can
    trigger campaigns in the first chunk that has some.

    Blocks are parsed, mapped and their bodies assembled in a pool of threads, one a core
    (polars releases the GIL), a few ahead; this thread takes the results in order, numbers the
    rows and decides the cut points, so the output never depends on timing.
    """
    tally.warn(*plan.warnings)
    with concurrent.futures.ThreadPoolExecutor(ENCODERS, "map") as pool:
        flow = _Flow(plan, tally, on_progress, tracker, pool, build,
                     ahead + ENCODERS - 2, nightly)
        flow.say = say
        try:
            for index, inp in enumerate(plan.sources):
                if stop is not None and stop.is_set():
                    return
                yield from flow.input(index, inp, stop)
            yield from flow.mirror()
            yield from flow.drain()
            _say_recent(plan, tally)
        finally:
            flow.cancel()


def _say_recent(plan: Plan, tally: Tally) -> None:
    """Events that can trigger campaigns, said once the input is read."""
    said = campaign_words(tally.get("events_recent"), tally.get("events_future"),
                          tally.get("events_untimed"), plan.mapping.recent_events)
    if said:
        tally.warn(said)


class _Flow:
    """The state of `batches`: blocks being parsed, chunks being mapped, the packer."""

    def __init__(self, plan: Plan, tally: Tally,
                 on_progress: Callable[[int], None] | None, tracker: Tracker | None,
                 pool: concurrent.futures.ThreadPoolExecutor, build: bool = True,
                 ahead: int = AHEAD, nightly: Incremental | None = None):
        self.plan, self.tally, self.nightly = plan, tally, nightly
        self.on_progress, self.tracker, self.pool = on_progress, tracker, pool
        self.build, self.ahead = build, ahead
        self.say: Callable[[str], None] | None = None  # `batches`' say
        self.encoder = Encoder(plan.mapping)
        self.packer = Packer()
        self.parsing: deque[tuple[concurrent.futures.Future, int]] = deque()
        self.mapping: deque[_Pending] = deque()
        self.bodies: deque[concurrent.futures.Future] = deque()  # lists of Batch, in order
        self.done_before = 0

    def input(self, index: int, inp: Source, stop: threading.Event | None) -> Iterator[Batch]:
        kept = self.plan.readers.pop(index, None)
        csv = self.plan.mapping.source.csv  # opened again: no kept reader, or a replaced file
        reader = kept if kept is not None and kept.current() else \
            inp.open(csv, self.plan.block_bytes) if isinstance(inp, Input) else inp.open(csv)
        self.tally.warn(*reader.warnings)
        if not self.plan.checked[index] and reader.columns:
            problems = check_columns(self.plan.mapping, reader.columns, inp.name,
                                     getattr(reader, "schema", None))
            if problems:
                raise MappingError(self.plan.mapping.path, problems)
        if isinstance(reader, InputReader) and not any(op.rest for op in self.plan.mapping.operations):
            reader.read_only(roots(list(self.plan.mapping.columns_used()), reader.columns))
        skipped = self.tracker.skipped(index) if self.tracker else None
        # the next block's first row and line (a keyed database resumes at a later row)
        at = (reader.first_row, reader.first_line)
        try:
            for task, done in reader.tasks():
                if stop is not None and stop.is_set():
                    return
                self.parsing.append((self.pool.submit(task), done))
                while len(self.parsing) > self.ahead:
                    at = yield from self.take(index, inp, skipped, at)
            while self.parsing:
                at = yield from self.take(index, inp, skipped, at)
            if isinstance(reader, InputReader):  # a file changed under the run stops it
                reader.check_unchanged()
        finally:
            reader.close()
        while self.mapping:
            yield from self.finish(self.mapping.popleft())
        if self.tracker is not None:
            self.tracker.finished_input(index, at[0])
        self.done_before += inp.size()

    def take(self, index: int, inp: Source, skipped: pl.Expr | None,
             at: tuple[int, int]) -> Iterator[Batch]:
        """The next parsed block, in order: absolute rows and lines, skips, then its mapping.
        Returns the first row and line of the block after it."""
        parse, done = self.parsing.popleft()
        parsed = offset(parse.result(), *at)
        frame, read_rejects = parsed.frame, parsed.rejects
        skips = 0
        if skipped is not None:
            frame = frame.filter(~skipped)
            read_rejects = _not_skipped(read_rejects, skipped)
            skips = parsed.records - frame.height - len(read_rejects)
        self.tally.add(rows_read=parsed.records - skips, rows_skipped=skips)
        future = self.pool.submit(_encode, self.encoder, frame, inp.name, self.tracker is not None,
                                  self.nightly, parsed.reread) if frame.height else None
        self.mapping.append(_Pending(index, inp.name, read_rejects, future,
                                     self.done_before + done))
        while len(self.mapping) > self.ahead:
            yield from self.finish(self.mapping.popleft())
        return at[0] + parsed.records, at[1] + parsed.lines

    def finish(self, item: _Pending) -> Iterator[Batch]:
        for r in item.read_rejects:
            self.tally.reject(r)
        settled = [r.row for r in item.read_rejects]
        if item.encoded is not None:
            encoded, empty, decided = item.encoded.result()
            for r in encoded.rejects:
                self.tally.reject(r)
            settled += empty
            if decided is not None:
                unchanged = self._diff(encoded, *decided)
                if self.tracker is not None and unchanged:
                    self.tracker.settled_runs(item.index, unchanged)
            self.tally.operations(encoded.op_counts)
            if encoded.recent_events:
                self.tally.add(events_recent=encoded.recent_events,
                               events_future=encoded.future_events,
                               events_untimed=encoded.untimed_events)
                if self.say is not None:  # before the first body that holds them is sent
                    self.say(campaign_words(encoded.recent_events, encoded.future_events,
                                            encoded.untimed_events,
                                            self.plan.mapping.recent_events, first=True))
                    self.say = None
            self.bodies.append(self.pool.submit(self.packer.cut(encoded.ops, item.index)
                                                .assemble, self.build))
        if self.tracker is not None and settled:
            self.tracker.settled(item.index, settled)
        if self.on_progress:
            self.on_progress(item.bytes_done)
        while len(self.bodies) > self.ahead:
            yield from _counted(self.bodies.popleft().result(), self.tally)

    def _diff(self, encoded: EncodedChunk, verdict: Verdict, rejected: pl.Series
              ) -> list[tuple[int, int]]:
        """Keep the operations to send; returns the rows left with none (to settle)."""
        assert self.nightly is not None
        differ = self.nightly.differ
        differ.mark_present(rejected)
        decided = differ.decide(verdict, self.nightly.census)
        if decided is None:  # a census: nothing is sent
            encoded.ops, encoded.op_counts = encoded.ops.clear(), Counter()
            return []
        ops = self.plan.mapping.operations
        encoded.ops = decided.send
        self.nightly.noted(decided.send)  # what it relates to: moves are found from it
        encoded.op_counts = Counter({(ops[i].type, ops[i].action): n
                                     for i, n in decided.sent_by_op.items()})
        self.tally.add(rows_new=decided.counts.new, rows_changed=decided.counts.changed,
                       rows_unchanged=decided.counts.unchanged)
        return decided.runs

    def mirror(self) -> Iterator[Batch]:
        """With --missing: the operations undoing the keys gone from every input, packed after
        them (as if the state were one more input)."""
        ops = self.nightly.mirrored() if self.nightly is not None else None
        if ops is not None and ops.height:
            self.tally.add(operations_mirrored=ops.height)
            yield from _counted(self.packer.cut(ops, len(self.plan.sources)).assemble(self.build),
                                self.tally)

    def drain(self) -> Iterator[Batch]:
        """Every body still being built, then the last, unfilled one."""
        while self.bodies:
            yield from _counted(self.bodies.popleft().result(), self.tally)
        yield from _counted(self.packer.cut_rest().assemble(self.build), self.tally)

    def cancel(self) -> None:
        for future, _ in self.parsing:
            future.cancel()
        for item in self.mapping:
            if item.encoded is not None:
                item.encoded.cancel()
        for future in self.bodies:
            future.cancel()


def _not_skipped(read_rejects: list, skipped: pl.Expr) -> list:
    """The read rejects of rows that an earlier run has not settled yet."""
    if not read_rejects:
        return read_rejects
    rows = pl.DataFrame({ROW: [r.row for r in read_rejects]}, schema={ROW: pl.Int64})
    keep = rows.select((~skipped).alias("keep")).get_column("keep").to_list()
    return [r for r, k in zip(read_rejects, keep, strict=True) if k]


def _counted(items: list[Batch], tally: Tally) -> Iterator[Batch]:
    for batch in items:
        tally.add(batches=1, bytes_packed=batch.size, operations_packed=batch.operations)
        yield batch
