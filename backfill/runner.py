"""`run`: the flow's bodies delivered under one rate limit, resumably.

Orchestration only: a reader thread runs `flow.batches`; asyncio workers send through
`delivery.retry`; the checkpoint is saved every half second and at the end (`saving.py`); signals drain or
stop. Kept apart from `flow` so that `validate` does not load the network stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

from backfill import stopping
from backfill.contract import Batch, Reject
from backfill.delivery.endpoint import EndpointCheck, say_retries, say_wait
from backfill.delivery.handoff import Handoff
from backfill.delivery.pacing import Pacing
from backfill.delivery.ratelimit import RateLimiter
from backfill.delivery.retry import MAX_WAIT, Delivery, RetryPolicy
from backfill.delivery.sender import Sender
from backfill.delivery.transport import Transport
from backfill.delivery.workers import until_done, worker
from backfill.errors import Interrupted, OutputFailed, Stopped
from backfill.flow import Plan, batches
from backfill.nightly.night import NightlyRun
from backfill.options import Nightly
from backfill.resume import keep_event_ids, prepare_checkpoint
from backfill.runfiles.archives import KEEP
from backfill.runfiles.atomic import check_writable
from backfill.runfiles.checkpoint import Checkpoint, mapping_hash
from backfill.runfiles.lock import RunLock
from backfill.runfiles.outputs import writing
from backfill.runfiles.progress import DeliveryBar, moved, progress
from backfill.runfiles.rejects import RejectsWriter
from backfill.runfiles.report import Report
from backfill.runfiles.tally import Tally
from backfill.runfiles.tracker import RunTracker
from backfill.saving import keep_saving, save_all, show


@dataclass
class RunOptions:
    site_id: str
    api_key: str
    checkpoint: str | None  # None: nothing is saved (a source that cannot be read twice)
    rejects: str | None
    endpoint: str | None = None
    region: str = "auto"
    rate: float = 1000.0
    concurrency: int = 8
    restart: bool = False
    quiet: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 30.0
    save_every: float = 0.5
    drain_s: float = 8.0  # --drain-timeout: within docker stop's 10 s grace
    log_every: float = 30.0  # without a terminal: a progress line this often (0: none)
    log_format: str = "text"  # or "json": the progress lines as JSON objects
    max_wait: float = MAX_WAIT  # a longer Retry-After stops the run (exit 3)
    adaptive: bool = True  # concurrency and rate follow the API (`delivery.pacing`), up to
    # `concurrency` and `rate`; off: `concurrency` workers at `rate`, as set
    nightly: Nightly | None = None  # --state and its options
    keep: int = KEEP  # --keep: dated archives of a finished run's checkpoint and rejects
    transport: Transport | None = None  # None: HTTP (aiohttp); tests: a MemoryTransport
    on_reject: Callable[[Reject], object] | None = None  # each reject, as it is written


def run(plan: Plan, opts: RunOptions) -> Report:
    """Deliver everything, resumably. Raises `Stopped` (exit 3) when cut short; a run already
    using the same checkpoint or state makes this one exit 2 at once."""
    with ExitStack() as held:
        for path, what in ((opts.checkpoint, "checkpoint"),
                           (opts.nightly and opts.nightly.path, "state")):
            if path:
                held.enter_context(RunLock(path, what))
        guard = held.enter_context(stopping.before_sending())  # from the first instant
        return _run(plan, opts, guard)


def _run(plan: Plan, opts: RunOptions, guard: stopping.Guard) -> Report:
    started = time.monotonic()
    check_writable(opts.checkpoint, "--checkpoint")
    check_writable(opts.rejects, "--rejects")
    check = EndpointCheck(opts.endpoint, opts.region, opts.site_id, opts.api_key, opts.timeout,
                          opts.transport)
    checkpoint, resumed, notes = prepare_checkpoint(plan, opts.checkpoint, opts.rejects,
                                                    opts.restart, opts.keep)
    if opts.nightly is not None:  # a refusal is said before the state and the census pass
        check.result()
    with RejectsWriter(opts.rejects, append=resumed) as rejects:  # a resume adds to the file
        tally = Tally(rejects, opts.on_reject)
        tally.note(*notes)
        nightly = _nightly(plan, opts, tally, checkpoint, resumed)
        if resumed:
            tally.carry(checkpoint.counters)
        tracker = RunTracker(checkpoint.done)
        sending: dict = {}  # the pacing's figures, for the report
        guard.sending = True
        try:
            asyncio.run(_deliver_all(check, plan, opts, tally, tracker, checkpoint, nightly,
                                     sending))
        except BaseException as exc:
            if isinstance(exc, Stopped):
                exc.checkpoint = opts.checkpoint
            with contextlib.suppress(OutputFailed):  # the stop's cause is the one said
                save_all(opts.checkpoint, checkpoint, tally, plan, nightly)
            raise
        save_all(opts.checkpoint, checkpoint, tally, plan, nightly)
    failed = tally.get("rows_rejected") or tally.get("operations_rejected")
    extra = {}
    if nightly is not None:
        extra = {"state": opts.nightly.path,
                 "keys_missing": nightly.keys_missing(tally.get("rows_skipped") == 0)}
        with writing(opts.nightly.path, "state"):
            nightly.commit({k: tally.get(k) for k in NIGHT_COUNTS})
    return tally.report(mode="run", rate=opts.rate, rejects_file=opts.rejects, resumed=resumed,
                        rows_done=tracker.count(), elapsed_s=time.monotonic() - started,
                        exit_code=1 if failed else 0, sending=sending or None, **extra)


NIGHT_COUNTS = ("rows_read", "rows_new", "rows_changed", "rows_unchanged", "rows_rejected",
                "operations_delivered", "operations_mirrored")


def _nightly(plan: Plan, opts: RunOptions, tally: Tally, checkpoint: Checkpoint,
             resumed: bool = False) -> NightlyRun | None:
    """With --state: the state loaded; with --missing, the census pass and the breaker. Either
    way, the event ids the run or state began with (`keep_event_ids`)."""
    if opts.nightly is None:
        keep_event_ids(plan, checkpoint, None, tally)
        return None
    say = None if opts.quiet else lambda text: print(f"note: {text}", file=sys.stderr)
    nightly = NightlyRun(opts.nightly, plan.mapping, mapping_hash(plan.mapping.text), tally, say,
                      resumed)
    keep_event_ids(plan, checkpoint, nightly, tally)
    if nightly.mirrors:
        counts = Tally()
        nightly.census = True
        if say is not None:
            say(f"--missing {opts.nightly.missing}: reading the input once for its keys, "
                "before anything is sent")
        with progress(plan.size(), opts.quiet, plan.unit) as bar:
            for _ in batches(plan, counts, moved(bar), build=False, nightly=nightly):
                pass
        nightly.census = False
        nightly.check_deletes(counts.get("rows_read"), counts.report().rejects_by_stage
                              .get("read", 0))
        nightly.differ.restart()
    return nightly


async def _deliver_all(check: EndpointCheck, plan: Plan, opts: RunOptions, tally: Tally,
                       tracker: RunTracker, checkpoint: Checkpoint, nightly: NightlyRun | None,
                       sending: dict) -> None:
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    failures: list[BaseException] = []
    interrupts: list[str] = []  # the signals received, by name
    workers: list[asyncio.Task] = []
    # bodies waiting beyond those being sent: enough that the reader does not wait for a window
    # still growing (slow start on a distant API), few when a fixed number is sent at once
    queue: Handoff[Batch] = Handoff(loop, min(opts.concurrency, 64 if opts.adaptive else
                                              1 << 30) * 2)

    def interrupted(name: str) -> None:
        interrupts.append(name)
        stop.set()
        queue.drain()  # bodies not yet taken are not sent (a resume sends them)
        if len(interrupts) == 1 and workers:
            print(f"\n{name}: finishing the requests in flight (at most {opts.drain_s:g} s), "
                  f"then saving the checkpoint ({name} again, or Ctrl-C, stops at once)",
                  file=sys.stderr)
        else:
            for task in workers:
                task.cancel()

    bar = DeliveryBar(plan.size(), opts.quiet, plan.unit, log_every=opts.log_every,
                      log_format=opts.log_format)
    began = time.monotonic()
    pacing = None
    try:
        producer = threading.Thread(target=_produce, daemon=True, name="reader", args=(
            plan, tally, tracker, bar, stop, failures, queue, opts.concurrency, nightly))
        producer.start()
        with stopping.during(loop, interrupted):
            try:
                checked = await check.wait(stop.is_set)  # the reader begins meanwhile
            except Exception as exc:  # the cause of the stop, raised after the reader stops
                failures.insert(0, exc)
                stop.set()
                checked = None
            if checked is not None:
                pacing = await _send(checked, plan, opts, tally, tracker, checkpoint, nightly,
                                     stop, failures, queue, bar, workers)
        # a stopped run does not wait for a reader blocked on its input (a slow stdin): it
        # holds nothing the final save needs, and is a daemon thread
        await asyncio.to_thread(producer.join, 2 if interrupts or failures else 60)
        show(bar, tracker, tally, began)
    finally:
        stop.set()
        queue.drain()
        bar.close()
        if pacing is not None:
            sending.update(pacing.figures())
    _raise_cause(workers, failures, interrupts)
    tracker.complete()
    checkpoint.finished = True


async def _send(checked: tuple[str, str | None], plan: Plan, opts: RunOptions, tally: Tally,
                tracker: RunTracker, checkpoint: Checkpoint, nightly: NightlyRun | None,
                stop: threading.Event, failures: list[BaseException], queue: Handoff[Batch],
                bar: DeliveryBar, workers: list[asyncio.Task]) -> Pacing | None:
    """The workers at the checked endpoint, and the saver, until they are done or stopped;
    the pacing whose figures the report gives."""
    base_url, note = checked
    tally.note(*[note] if note else [])
    delivery = _delivery(base_url, plan, opts, tally, nightly, stop)
    pacing = delivery.pacing
    if pacing is not None:  # the bar shows the window in use; waiting bodies grow it
        bar.in_flight = lambda: pacing.window.allowed
        pacing.waiting = lambda: not queue.queue.empty()
    workers += [asyncio.create_task(worker(queue, delivery, tracker, stop)())
                for _ in range(opts.concurrency)]
    saver = asyncio.create_task(keep_saving(opts.checkpoint, opts.save_every, tracker,
                                            checkpoint, tally, bar, nightly, plan, stop,
                                            failures))
    try:
        await until_done(workers, stop, opts.drain_s, queue, pacing)
    finally:
        stop.set()
        saver.cancel()
        await delivery.sender.aclose()
    return pacing


def _raise_cause(workers: list[asyncio.Task], failures: list[BaseException],
                 interrupts: list[str]) -> None:
    """The cause of a stop (a worker's, then the reader's), not the requests that gave up their
    retries because of it; or the signal that stopped the run."""
    errors = [t.exception() for t in workers if t.done() and not t.cancelled()
              and t.exception() is not None]
    causes = [e for e in errors if not isinstance(e, Interrupted)] + failures
    if causes:
        raise causes[0]
    if interrupts and not workers:  # during the endpoint's check
        raise Interrupted(f"{interrupts[0]} before anything was sent: nothing was sent")
    if errors or interrupts:
        raise Interrupted(f"interrupted by {interrupts[0] if interrupts else 'a signal'}")


def _delivery(base_url: str, plan: Plan, opts: RunOptions, tally: Tally,
              nightly: NightlyRun | None, stop: threading.Event) -> Delivery:
    """The sender and its retries; a retry is said on stderr (at most every few seconds), and
    a request waiting to retry gives up when the run is stopped."""
    names = [source.name for source in plan.sources]
    if nightly is not None:
        names.append(nightly.opts.path)  # the operations undoing missing keys come from it
    sender = Sender(base_url, opts.site_id, opts.api_key, opts.concurrency, opts.timeout,
                    opts.transport)
    limiter = RateLimiter(opts.rate)
    return Delivery(sender, limiter, tally, names, opts.retry,
                    pacing=Pacing(opts.concurrency, opts.rate, limiter) if opts.adaptive else None,
                    accepted=nightly.accepted if nightly is not None else None,
                    stopping=stop, retrying=None if opts.quiet else say_retries(tally),
                    max_wait=opts.max_wait, waiting=say_wait)


def _produce(plan: Plan, tally: Tally, tracker: RunTracker, bar: DeliveryBar,
             stop: threading.Event,
             failures: list[BaseException], queue: Handoff[Batch], workers: int,
             nightly: NightlyRun | None) -> None:
    """The reader thread: the flow's bodies into the queue, then one end mark a worker."""
    try:
        # the queue of bodies runs ahead; with --state most rows are not sent: the encoders
        ahead = 1 if nightly is None else 2  # need the depth (BENCHMARKS.md, nightly runs)
        for batch in batches(plan, tally, bar.moved, tracker, stop, ahead, nightly=nightly,
                             say=say_wait):
            if not queue.put(batch, stop):
                return
    except BaseException as exc:  # handed to the event loop, raised there
        failures.append(exc)
        stop.set()
    finally:
        for _ in range(workers):
            if not queue.put(None, stop):
                break
