"""Wires reader -> encoder/checker -> packer (and, for `run`, the sender). Orchestration only."""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

import polars as pl
from tqdm import tqdm

from backfill.checkpoint import Checkpoint, RowSet, archive, fingerprint, load, mapping_hash, save
from backfill.config import Mapping, check_columns
from backfill.delivery import Delivery, RetryPolicy, Stopped, Unauthorized
from backfill.encode import EncodedChunk, Encoder
from backfill.errors import MappingError, UsageError
from backfill.packer import Batch, Packer
from backfill.parse import ROW
from backfill.ratelimit import RateLimiter
from backfill.reader import Input, InputReader, offset, resolve_inputs
from backfill.rejects import Reject, RejectsWriter
from backfill.report import Report
from backfill.sender import REGIONS, Sender


@dataclass
class Plan:
    """What a command works on: the mapping and the resolved inputs."""

    mapping: Mapping
    inputs: list[Input]


def make_plan(mapping: Mapping, patterns: list[str], fmt: str | None = None) -> Plan:
    """Resolve inputs and check every input's columns against the mapping before any data."""
    inputs = resolve_inputs(list(patterns) or list(mapping.source.paths),
                            fmt or mapping.source.format)
    problems = []
    for inp in inputs:
        if inp.path == "-":
            continue  # stdin can be read once only: its columns are checked as it is read
        reader = InputReader(inp, mapping.source.csv)
        try:
            if reader.columns:
                problems += check_columns(mapping, reader.columns, inp.name)
        finally:
            reader.close()
    if problems:
        raise MappingError(mapping.path, _unique(problems))
    return Plan(mapping, inputs)


def _unique(items: list) -> list:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def default_checkpoint_path(inputs: list[Input]) -> str:
    first = inputs[0]
    base = "stdin" if first.path == "-" else first.path
    return f"{base}.checkpoint.json"


def default_rejects_path(inputs: list[Input]) -> str:
    first = inputs[0]
    base = "stdin" if first.path == "-" else first.path
    return f"{base}.rejects.ndjson"


@contextmanager
def progress(total: int, quiet: bool, unit: str = "B") -> Iterator[tqdm]:
    disable = quiet or not sys.stderr.isatty()
    bar = tqdm(total=total or None, unit=unit, unit_scale=True, unit_divisor=1024,
               disable=disable, dynamic_ncols=True, desc="reading")
    try:
        yield bar
    finally:
        bar.close()


class Tracker(Protocol):
    """What `batches` tells the run about rows (validate passes none)."""

    def skipped(self, input_index: int) -> pl.Expr | None:
        """A boolean expression on __row: true for rows done by an earlier run."""

    def settled(self, input_index: int, rows: list[int]) -> None:
        """Rows done without sending anything: rejected, or with no operation to send."""

    def finished_input(self, input_index: int, rows: int) -> None:
        """Every row of this input has been read."""


ENCODERS = 2  # threads that parse, map and assemble: polars releases the GIL, both cores work
AHEAD = 2  # blocks in flight at each stage (more measured no faster, and took more memory)


@dataclass
class _Pending:
    """A chunk whose operations are being built in the pool."""

    index: int
    name: str
    read_rejects: list
    encoded: concurrent.futures.Future | None
    bytes_done: int


def _encode(encoder: Encoder, frame: pl.DataFrame, name: str, settle: bool
            ) -> tuple[EncodedChunk, list[int]]:
    """In a pool thread: the chunk's operations, and its rows that have none to send."""
    encoded = encoder.encode(frame, name)
    empty: list[int] = []
    if settle:
        empty = frame.select(ROW).join(encoded.ops.select(pl.col("__row").unique()), on=ROW,
                                       how="anti").get_column(ROW).to_list()
    return encoded, empty


def batches(plan: Plan, report: Report, rejects: RejectsWriter,
            on_progress: Callable[[int], None] | None = None, tracker: Tracker | None = None,
            stop: threading.Event | None = None, build: bool = True) -> Iterator[Batch]:
    """Read, map, check and pack every input; yield full bodies as they are ready.
    `build=False`: the bodies' bytes are joined only if read (validate without a dump).

    Blocks are parsed, mapped and their bodies assembled in a pool of two threads (polars
    releases the GIL), a few ahead; this thread takes the results in order, numbers the rows and
    decides the cut points, so the output never depends on timing.
    """
    with concurrent.futures.ThreadPoolExecutor(ENCODERS, "map") as pool:
        flow = _Flow(plan, report, rejects, on_progress, tracker, pool, build)
        try:
            for index, inp in enumerate(plan.inputs):
                if stop is not None and stop.is_set():
                    return
                yield from flow.input(index, inp, stop)
            yield from flow.drain()
        finally:
            flow.cancel()


class _Flow:
    """The state of `batches`: blocks being parsed, chunks being mapped, the packer."""

    def __init__(self, plan: Plan, report: Report, rejects: RejectsWriter,
                 on_progress: Callable[[int], None] | None, tracker: Tracker | None,
                 pool: concurrent.futures.ThreadPoolExecutor, build: bool = True):
        self.plan, self.report, self.rejects = plan, report, rejects
        self.on_progress, self.tracker, self.pool = on_progress, tracker, pool
        self.build = build
        self.encoder = Encoder(plan.mapping)
        self.packer = Packer()
        self.parsing: deque[tuple[concurrent.futures.Future, int]] = deque()
        self.mapping: deque[_Pending] = deque()
        self.bodies: deque[concurrent.futures.Future] = deque()  # lists of Batch, in order
        self.done_before = 0

    def input(self, index: int, inp: Input, stop: threading.Event | None) -> Iterator[Batch]:
        reader = InputReader(inp, self.plan.mapping.source.csv)
        self.report.warnings += reader.warnings
        if inp.path == "-" and reader.columns:
            problems = check_columns(self.plan.mapping, reader.columns, inp.name)
            if problems:
                raise MappingError(self.plan.mapping.path, problems)
        skipped = self.tracker.skipped(index) if self.tracker else None
        row = 0
        try:
            for task, done in reader.tasks():
                if stop is not None and stop.is_set():
                    return
                self.parsing.append((self.pool.submit(task), done))
                while len(self.parsing) > AHEAD:
                    row = yield from self.take(index, inp, skipped, row)
            while self.parsing:
                row = yield from self.take(index, inp, skipped, row)
        finally:
            reader.close()
        while self.mapping:
            yield from self.finish(self.mapping.popleft())
        if self.tracker is not None:
            self.tracker.finished_input(index, row)
        self.done_before += inp.size()

    def take(self, index: int, inp: Input, skipped: pl.Expr | None,
             row: int) -> Iterator[Batch]:
        """The next parsed block, in order: absolute rows, skips, then its mapping.
        Returns the first row of the block after it."""
        parse, done = self.parsing.popleft()
        parsed = offset(parse.result(), row)
        frame, read_rejects = parsed.frame, parsed.rejects
        if skipped is not None:
            frame = frame.filter(~skipped)
            read_rejects = _not_skipped(read_rejects, skipped)
            self.report.rows_skipped += parsed.records - frame.height - len(read_rejects)
        if self.tracker is None:
            self.report.rows_read += parsed.records
        future = self.pool.submit(_encode, self.encoder, frame, inp.name,
                                  self.tracker is not None) if frame.height else None
        self.mapping.append(_Pending(index, inp.name, read_rejects, future,
                                     self.done_before + done))
        while len(self.mapping) > AHEAD:
            yield from self.finish(self.mapping.popleft())
        return row + parsed.records

    def finish(self, item: _Pending) -> Iterator[Batch]:
        for r in item.read_rejects:
            self.rejects.write(r)
            self.report.add_reject(r)
        settled = [r.row for r in item.read_rejects]
        if item.encoded is not None:
            encoded, empty = item.encoded.result()
            for r in encoded.rejects:
                self.rejects.write(r)
                self.report.add_reject(r)
            self.report.operations_by_type.update(encoded.op_counts)
            settled += empty
            self.bodies.append(self.pool.submit(self.packer.cut(encoded.ops, item.index)
                                                .assemble, self.build))
        if self.tracker is not None and settled:
            self.tracker.settled(item.index, settled)
        if self.on_progress:
            self.on_progress(item.bytes_done)
        while len(self.bodies) > AHEAD:
            yield from _counted(self.bodies.popleft().result(), self.report)

    def drain(self) -> Iterator[Batch]:
        """Every body still being built, then the last, unfilled one."""
        while self.bodies:
            yield from _counted(self.bodies.popleft().result(), self.report)
        yield from _counted(self.packer.cut_rest().assemble(self.build), self.report)

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


def _counted(items: list[Batch], report: Report) -> Iterator[Batch]:
    for batch in items:
        report.batches += 1
        report.bytes_packed += batch.size
        report.operations_packed += batch.operations
        yield batch


def validate(plan: Plan, rejects_path: str | None, dump: IO[bytes] | None = None,
             rate: float = 1000.0, quiet: bool = False) -> Report:
    """`backfill validate`: everything `run` does before sending; the bodies go to `dump`."""
    report = Report(mode="validate", rate=rate, rejects_path=rejects_path)
    started = time.monotonic()
    total = sum(i.size() for i in plan.inputs)
    with RejectsWriter(rejects_path) as rejects, progress(total, quiet) as bar:
        def moved(done: int) -> None:
            bar.update(done - bar.n)

        for batch in batches(plan, report, rejects, moved, build=dump is not None):
            if dump is not None:
                dump.write(batch.body + b"\n")
    report.elapsed_s = time.monotonic() - started
    report.exit_code = 1 if report.rows_rejected else 0
    if not report.rows_rejected and rejects_path and Path(rejects_path).exists():
        Path(rejects_path).unlink()  # a stale file from an earlier run would mislead
    return report



# -- run ------------------------------------------------------------------------------------


@dataclass
class RunOptions:
    site_id: str
    api_key: str
    checkpoint: str
    rejects: str
    endpoint: str | None = None
    region: str = "auto"
    rate: float = 1000.0
    concurrency: int = 8
    restart: bool = False
    quiet: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 30.0
    save_every: float = 0.5
    drain_s: float = 30.0


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


# What continues from run to run: what reached the API, and what was rejected. Packing figures
# (operations, batches, bytes packed, by type) describe the run that printed them.
COUNTERS = ("rows_rejected", "operations_delivered", "operations_rejected", "requests",
            "retries", "bytes_sent")


def prepare_checkpoint(plan: Plan, opts: RunOptions, report: Report) -> tuple[Checkpoint, bool]:
    """The checkpoint this run continues (resumed=True) or starts; refuses a changed input."""
    fps = [fingerprint(i.path) for i in plan.inputs]
    digest = mapping_hash(plan.mapping.text)
    existing = None if opts.restart else load(opts.checkpoint)
    if existing is not None and existing.finished:
        kept = archive(opts.checkpoint, existing)
        report.warnings.append(f"{opts.checkpoint} was from a finished run: kept as {kept}; "
                               "this is a new run")
        existing = None
    if existing is None:
        return Checkpoint(digest, fps), False
    changes = existing.differences(digest, fps)
    if changes:
        raise UsageError(
            f"{opts.checkpoint} holds an unfinished run, but since then "
            + "; ".join(changes) + ". Resuming would skip or repeat the wrong rows. Put the "
            "original inputs and mapping back to resume, or pass --restart to start over "
            "(rows sent before are sent again; events keep their ids, so the API drops "
            "the repeats).")
    for key in COUNTERS:
        setattr(report, key, existing.counters.get(key, 0))
    report.rejects_by_stage.update(existing.counters.get("rejects_by_stage", {}))
    return existing, True


def run(plan: Plan, opts: RunOptions) -> Report:
    """`backfill run`: deliver everything, resumably. Raises Stopped (exit 3) when cut short."""
    report = Report(mode="run", rate=opts.rate, rejects_path=opts.rejects)
    checkpoint, resumed = prepare_checkpoint(plan, opts, report)
    report.resumed = resumed
    tracker = RunTracker(checkpoint.done)
    started = time.monotonic()
    with RejectsWriter(opts.rejects, append=resumed) as rejects:
        try:
            asyncio.run(_deliver_all(plan, opts, report, rejects, tracker, checkpoint))
        finally:
            report.elapsed_s = time.monotonic() - started
            report.rows_read = tracker.count()
            rejects.flush()
            _save(opts.checkpoint, checkpoint, report)
    report.exit_code = 1 if report.rows_rejected or report.operations_rejected else 0
    return report


def _save(path: str, checkpoint: Checkpoint, report: Report) -> None:
    checkpoint.counters = {key: getattr(report, key) for key in COUNTERS}
    checkpoint.counters["rejects_by_stage"] = dict(report.rejects_by_stage)
    save(path, checkpoint)


async def _base_url(opts: RunOptions) -> str:
    if opts.endpoint:
        return opts.endpoint.rstrip("/")
    if opts.region in REGIONS:
        return REGIONS[opts.region]
    probe = Sender(REGIONS["us"], opts.site_id, opts.api_key, 1, opts.timeout)
    try:
        return await probe.region()
    except PermissionError:
        raise Unauthorized("the Track API refused the credentials while looking up the "
                           "region: check CUSTOMERIO_SITE_ID and CUSTOMERIO_API_KEY (or "
                           "--site-id/--api-key)") from None
    except ConnectionError as exc:
        raise Stopped(f"{exc}; pass --region us|eu to skip the lookup, or --endpoint") from None
    finally:
        await probe.aclose()


async def _deliver_all(plan: Plan, opts: RunOptions, report: Report, rejects: RejectsWriter,
                       tracker: RunTracker, checkpoint: Checkpoint) -> None:
    loop = asyncio.get_running_loop()
    sender = Sender(await _base_url(opts), opts.site_id, opts.api_key, opts.concurrency,
                    opts.timeout)
    names = [i.name for i in plan.inputs]

    def reject(r: Reject) -> None:
        rejects.write(r)
        report.add_reject(r)

    delivery = Delivery(sender, RateLimiter(opts.rate), report, reject, names, opts.retry)
    queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=opts.concurrency * 2)
    stop = threading.Event()
    failures: list[BaseException] = []
    total = sum(i.size() for i in plan.inputs)
    interrupts = 0

    def produce(bar: tqdm) -> None:
        def moved(done: int) -> None:
            bar.update(done - bar.n)

        try:
            for batch in batches(plan, report, rejects, moved, tracker, stop):
                if not _put(loop, queue, batch, stop):
                    return
        except BaseException as exc:  # handed to the event loop, raised there
            failures.append(exc)
            stop.set()
        finally:
            for _ in range(opts.concurrency):
                if not _put(loop, queue, None, stop):
                    break

    async def work() -> None:
        while not stop.is_set():
            batch = await queue.get()
            if batch is None:
                return
            await delivery.deliver(batch)
            tracker.ack(batch)

    def interrupted() -> None:
        nonlocal interrupts
        interrupts += 1
        stop.set()
        if interrupts == 1:
            print("\ninterrupted: finishing the requests in flight, then saving the checkpoint "
                  "(Ctrl-C again to stop at once)", file=sys.stderr)
        else:
            for task in workers:
                task.cancel()

    with progress(total, opts.quiet) as bar:
        producer = threading.Thread(target=produce, args=(bar,), daemon=True, name="reader")
        producer.start()
        workers = [asyncio.create_task(work()) for _ in range(opts.concurrency)]
        saver = asyncio.create_task(_keep_saving(opts, tracker, checkpoint, report, rejects,
                                                 bar))
        with _signal(loop, signal.SIGINT, interrupted), _signal(loop, signal.SIGTERM,
                                                                  interrupted):
            try:
                await _until_done(workers, stop, opts.drain_s, queue)
            finally:
                stop.set()
                saver.cancel()
                await sender.aclose()
        await asyncio.to_thread(producer.join, 60)
    errors = [t.exception() for t in workers if t.done() and not t.cancelled()
              and t.exception() is not None]
    if errors:
        raise errors[0]
    if failures:
        raise failures[0]
    if interrupts:
        raise Stopped("interrupted")
    tracker.complete()
    checkpoint.finished = True


async def _until_done(workers: list[asyncio.Task], stop: threading.Event, drain_s: float,
                      queue: asyncio.Queue) -> None:
    """Wait for the workers; on a failure or a stop, let requests in flight finish (bounded)."""
    pending = set(workers)
    while pending:
        done, pending = await asyncio.wait(pending, timeout=0.2,
                                           return_when=asyncio.FIRST_EXCEPTION)
        failed = any(t.exception() is not None for t in done if not t.cancelled())
        if failed or stop.is_set():
            stop.set()
            while not queue.empty():  # unsent bodies are not acknowledged: resent on resume
                queue.get_nowait()
            for _ in pending:
                queue.put_nowait(None)
            if pending:
                _, late = await asyncio.wait(pending, timeout=drain_s)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            return


def _put(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue, item: Batch | None,
         stop: threading.Event) -> bool:
    """From the reader thread: wait for room in the queue unless the run is stopping."""
    future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
    while True:
        try:
            future.result(timeout=0.2)
            return True
        except concurrent.futures.TimeoutError:
            if stop.is_set():
                future.cancel()
                return False
        except (concurrent.futures.CancelledError, RuntimeError):
            return False


async def _keep_saving(opts: RunOptions, tracker: RunTracker, checkpoint: Checkpoint,
                       report: Report, rejects: RejectsWriter, bar: tqdm) -> None:
    """Save the checkpoint every few seconds when something changed; refresh the progress."""
    started = last_save = time.monotonic()
    while True:
        await asyncio.sleep(min(opts.save_every, 0.5))
        elapsed = max(time.monotonic() - started, 1e-9)
        bar.set_postfix_str(
            f"{tracker.count():,} rows done, {report.operations_delivered:,} ops "
            f"({report.operations_delivered / elapsed:,.0f}/s)"
            f", {report.requests / elapsed:,.0f} req/s, {report.bytes_sent / 1e6:,.1f} MB, "
            f"{report.retries} retries, {report.rows_rejected + report.operations_rejected} "
            "rejects", refresh=False)
        if tracker.dirty and time.monotonic() - last_save >= opts.save_every:
            tracker.dirty = False
            rejects.flush()  # a settled row's reject line is on disk before the checkpoint
            with tracker.lock:
                report.rows_read = sum(d.count() for d in tracker.done)
                _save(opts.checkpoint, checkpoint, report)
            last_save = time.monotonic()


@contextmanager
def _signal(loop: asyncio.AbstractEventLoop, sig: int, handler: Callable[[], None]
            ) -> Iterator[None]:
    try:
        loop.add_signal_handler(sig, handler)
        installed = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
        installed = False
    try:
        yield
    finally:
        if installed:
            loop.remove_signal_handler(sig)
