"""The public API: `validate` and `run`, and the mapping and source coercions they share.

The CLI is a thin layer over these two functions; schedulers, notebooks and services call them
directly. Every error is a `backfill.errors.BackfillError` carrying the exit code the CLI uses.
"""

from __future__ import annotations

import glob
import io
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from backfill import flow
from backfill.calling import checked_numbers, in_callers_words, outside_any_loop
from backfill.contract import Reject, Source
from backfill.errors import InputError, MappingError, Problem, UsageError
from backfill.mapping.config import Mapping, load_mapping, parse_mapping
from backfill.options import RATE, Nightly, Sending, nightly_from, one_way
from backfill.runfiles.archives import KEEP, checked_keep
from backfill.runfiles.atomic import check_writable
from backfill.runfiles.outputs import open_private, refuse_inputs, regular
from backfill.runfiles.progress import moved, progress
from backfill.runfiles.rejects import RejectsWriter
from backfill.runfiles.report import Report
from backfill.runfiles.tally import Tally
from backfill.sources import remote
from backfill.sources.files import Input
from backfill.sources.resolve import resolve
from backfill.starting import init  # noqa: F401 - `backfill.init`

if TYPE_CHECKING:  # not loaded by `validate`: aiohttp is for sending
    from backfill.delivery.transport import Transport

MappingLike = str | os.PathLike | dict | Mapping


def load(mapping: MappingLike) -> Mapping:
    """A mapping from a file path, YAML text or a dict, with the same checks and messages.

    A string that names no file and holds a newline (or is a one-line `{...}`) is YAML text;
    any other string is a path. A dict is checked as the YAML it would be (its problems name no
    line: there is no file)."""
    if isinstance(mapping, Mapping):
        return mapping
    if isinstance(mapping, dict):
        from ruamel.yaml import YAML

        text = io.StringIO()
        YAML(typ="safe", pure=True).dump(mapping, text)
        try:
            return parse_mapping(text.getvalue(), "<dict>")
        except MappingError as exc:
            raise MappingError("<dict>", [Problem(0, p.message) for p in exc.problems]) from None
    if isinstance(mapping, str) and not os.path.exists(mapping) and (
            "\n" in mapping or mapping.lstrip().startswith("{")):
        return parse_mapping(mapping, "<mapping text>")
    if isinstance(mapping, str | os.PathLike):
        return load_mapping(mapping)
    raise UsageError(f"mapping: a {type(mapping).__name__} is not a mapping; pass a path, YAML "
                     "text or a dict")


def plan(mapping: MappingLike, source: Any = None, fmt: str | None = None) -> flow.Plan:
    """The mapping and the sources it reads, every source's columns checked."""
    m = load(mapping)
    database = {"database": m.source.database, "query": m.source.query,
                "resume_key": m.source.resume_key} if m.source.database else None
    if isinstance(source, dict) and "database" in source and "resume_key" not in source:
        source = {**source, "resume_key": m.source.resume_key}  # --database with the mapping's
    paths, warnings = mapping_relative(m.path, m.source.paths) if source is None or (
        isinstance(source, list | tuple) and not source) else (m.source.paths, [])
    sources = resolve(source, fmt or m.source.format, paths, database)
    return flow.make_plan(m, sources, warnings)


def mapping_relative(mapping_path: str, paths: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """source.path read from the mapping file's folder (a mapping in `configs/` that says
    `../data/x.csv` works from any folder). A path found only from the current folder (the
    old reading) is still used, with a warning saying how to write it."""
    folder = os.path.dirname(mapping_path) if os.path.isfile(mapping_path) else ""
    out, warnings = [], []
    for path in paths:
        if not folder or path == "-" or remote.is_url(path) or os.path.isabs(path):
            out.append(path)
            continue
        there = os.path.normpath(os.path.join(folder, path))
        if not _matches(there) and _matches(path):
            warnings.append(f"source.path {path!r} is read from the mapping's folder "
                            f"({folder}), where it matches nothing; the file from the current "
                            f"folder was used. Write it as "
                            f"{os.path.relpath(path, folder)!r} to say so")
            there = path
        out.append(there)
    return out, warnings


def _matches(path: str) -> bool:
    return bool(glob.glob(path)) if glob.has_magic(path) else os.path.exists(path)


def beside_input(sources: list[Source], suffix: str) -> str | None:
    """`<first input>.<suffix>` for files and stdin; None for sources with no path."""
    first = sources[0] if sources else None
    if first is not None and first.keyed:  # a database query: here, named by the query
        digest = first.fingerprint()["sample"][:8]  # type: ignore[index]
        return f"query-{digest}.{suffix}"
    if not isinstance(first, Input):
        return None
    if remote.is_url(first.path):  # an object's files stay here: `<object name>.<suffix>`
        return f"{first.path.split('?')[0].rstrip('/').rsplit('/', 1)[-1]}.{suffix}"
    return f"{'stdin' if first.path == '-' else first.path}.{suffix}"


@in_callers_words
def validate(mapping: MappingLike, source: Any = None, rejects: str | os.PathLike | None = None,
             dump_batches: str | os.PathLike | IO[bytes] | None = None, *,
             format: str | None = None, rate: float | None = None, quiet: bool = True,
             on_reject: Callable[[Reject], object] | None = None) -> Report:
    """Read, map, check limits and pack as `run` would; send nothing.

    `rejects`: where rejected rows go (NDJSON); default `<first input>.validate.rejects.ndjson`
    (never the file of a run's rejects), none for in-memory sources. `dump_batches`: a path
    or binary file that receives every request body, one a line. `on_reject`: called with each
    `backfill.Reject` as it is written. `exit_code` is 0 when every row mapped, 1 when some
    were rejected."""
    p = plan(mapping, source, format)
    rejects_path = _path(rejects) or beside_input(p.sources, "validate.rejects.ndjson")
    dump_path = None if dump_batches is None or hasattr(dump_batches, "write") else \
        os.fspath(dump_batches)  # type: ignore[arg-type]
    refuse_inputs({"--rejects": rejects_path, "--dump-batches": dump_path}, _inputs(p))
    _not_a_runs_rejects(p, rejects_path)
    check_writable(rejects_path, "--rejects")
    started = time.monotonic()
    with _dump(dump_batches) as dump, RejectsWriter(rejects_path) as writer, \
            progress(p.size(), quiet, p.unit) as bar:
        tally = Tally(writer, on_reject)
        for batch in flow.batches(p, tally, moved(bar), build=dump is not None):
            if dump is not None:
                dump.write(batch.body + b"\n")
    rejected = tally.get("rows_rejected")
    if not rejected and rejects_path and regular(rejects_path):
        Path(rejects_path).unlink()  # a stale file from an earlier run would mislead
    return tally.report(mode="validate", rate=rate or p.mapping.api.rate or RATE,
                        rejects_file=rejects_path, elapsed_s=time.monotonic() - started,
                        exit_code=1 if rejected else 0,
                        warnings=_unkept(p, rejects_path, rejected))


@in_callers_words
def run(mapping: MappingLike, source: Any = None, *, site_id: str, api_key: str,
        endpoint: str | None = None, region: str | None = None,
        checkpoint: str | os.PathLike | None = None, rejects: str | os.PathLike | None = None,
        restart: bool = False, format: str | None = None, quiet: bool = True,
        sending: Sending | None = None, nightly: Nightly | None = None, empty: str = "warn",
        log_every: float = 30.0, log_format: str = "text", rate: float | None = None,
        concurrency: int | None = None, adaptive: bool | None = None, retries: int | None = None,
        max_wait: float | None = None, drain_timeout: float | None = None,
        state: str | os.PathLike | None = None, missing: str | None = None,
        max_deletes: str | int | None = None, full: bool | None = None,
        event_watermark: bool | None = None, keep: int = KEEP,
        on_reject: Callable[[Reject], object] | None = None,
        transport: Transport | None = None) -> Report:
    """Send to the Track API as the mapping says; resumable after any stop.

    `endpoint` (a base URL, an emulator's say) wins over `region` (us, eu or auto); both
    default to the mapping's `api:` section, then to auto. `sending=Sending(...)`: the rate,
    concurrency, retries and waits (`backfill.Sending`; its fields may also be passed here one
    by one, `rate=500`, but not both ways). `nightly=Nightly(state, ...)`: a nightly job, which
    sends only what changed since the state was written (`backfill.Nightly`; or `state=`,
    `missing=`, ... here). `checkpoint`: default beside the first input file; a DataFrame,
    LazyFrame or Arrow table is resumed only with an explicit path; an iterable or a stream
    cannot be (it is read once). Raises `backfill.errors.Stopped` (exit 3, or 4 when the cause
    must be fixed first) when cut short: the same call resumes. A second run on the same
    checkpoint or state raises `UsageError` at once.

    In a running event loop (Jupyter, an async service) the run goes on in a thread of its own
    and this call waits for it; `await arun(...)` does not block the loop. `empty="fail"`: an
    input with no rows raises `InputError` (exit 2) instead of a warning. Without a terminal, a
    progress line on stderr every `log_every` seconds (`log_format` "text" or "json"). `keep`:
    how many dated archives of a finished run's checkpoint and rejects are kept (7).
    `on_reject`: called with each `backfill.Reject` as it is written to the rejects file (from
    the run's threads: keep it short; an exception from it stops the run). `transport`: how
    requests reach the API, for tests (`backfill.testing.MemoryApi`); default HTTP."""
    from backfill import runner

    p = plan(mapping, source, format)  # the mapping's problems first, as before any sending
    sending = one_way(Sending, sending, "sending", rate=rate, concurrency=concurrency,
                       adaptive=adaptive, retries=retries, max_wait=max_wait,
                       drain_timeout=drain_timeout)
    night = nightly_from(nightly, state, missing=missing, max_deletes=max_deletes, full=full,
                     event_watermark=event_watermark)
    checked_numbers(log_every=log_every, choices={"empty": (empty, ("warn", "fail")),
                                                  "log_format": (log_format, ("text", "json"))})
    if not site_id or not api_key:
        raise UsageError("credentials missing: set CUSTOMERIO_SITE_ID and CUSTOMERIO_API_KEY "
                         "(or pass --site-id and --api-key)")
    checkpoint_path = _path(checkpoint)
    unordered = _check_rereads(p, checkpoint_path, night.missing if night else "ignore")
    api = p.mapping.api
    opts = _options(p, sending, site_id=site_id, api_key=api_key,
                    checkpoint=checkpoint_path or beside_input(p.sources, "checkpoint.json"),
                    rejects=_path(rejects) or beside_input(p.sources, "rejects.ndjson"),
                    endpoint=endpoint or api.endpoint, region=region or api.region or "auto",
                    restart=restart, quiet=quiet, log_every=log_every, log_format=log_format,
                    nightly=night, keep=checked_keep(keep), on_reject=on_reject,
                    transport=transport)
    refuse_inputs({"--checkpoint": opts.checkpoint, "--rejects": opts.rejects,
                   "--state": opts.nightly and opts.nightly.path}, _inputs(p))
    return _after(p, outside_any_loop(runner.run, p, opts), opts.rejects, empty, unordered)


def _options(p: flow.Plan, sending: Sending, **given: Any) -> Any:
    """The runner's options: `Sending`'s, under the mapping's `api:` rate and concurrency."""
    from backfill import runner
    from backfill.delivery.retry import RetryPolicy

    pace, workers = sending.resolved(p.mapping.api.rate, p.mapping.api.concurrency)
    return runner.RunOptions(rate=pace, adaptive=sending.adaptive, concurrency=workers,
                             retry=RetryPolicy(attempts=sending.retries),
                             max_wait=sending.max_wait, drain_s=sending.drain_timeout,
                             timeout=sending.timeout, **given)


def _after(p: flow.Plan, report: Report, rejects: str | None, empty: str,
           unordered: list[str]) -> Report:
    """A finished run's report, with what the caller should know: an empty input refused when
    `empty="fail"`, rejects counted but not kept, sources that cannot resume."""
    name = p.sources[0].name if p.sources else "<inputs>"
    nothing = not report.rows_read + report.rows_skipped
    if nothing and empty == "fail":
        raise InputError(name, "has no rows, and empty='fail' (--empty fail) says that is an "
                         "error (an export that came out empty): nothing was sent")
    unkept = [f"no rows in {name}: nothing was sent; if this export must never be empty, "
              "pass --empty fail (exit 2)"] if nothing else []
    unkept += _unkept(p, rejects, report.rows_rejected + report.operations_rejected)
    unkept += [f"{name} has no resume_key: a stopped run would start over (events keep their "
               "ids, so the API drops the repeats); set source.resume_key to resume"
               for name in unordered]
    return replace(report, warnings=[*report.warnings, *unkept]) if unkept else report


def _inputs(p: flow.Plan) -> list[str]:
    """The local files a plan reads (its inputs and its mapping), which no output may name."""
    return [*(s.path for s in p.sources if isinstance(s, Input)), p.mapping.path]


def _not_a_runs_rejects(p: flow.Plan, rejects_path: str | None) -> None:
    """validate never writes the rejects file of a run in progress (its record of what the API
    refused): a path that is a run's default rejects file, while that run holds its lock."""
    from backfill.runfiles.lock import RunLock

    runs = beside_input(p.sources, "rejects.ndjson")
    if rejects_path is None or runs is None or os.path.abspath(rejects_path) != \
            os.path.abspath(runs):
        return
    lock = RunLock(beside_input(p.sources, "checkpoint.json") or "", "checkpoint")
    if not lock.path.exists():
        return  # no run has held it: nothing to make beside the input
    try:
        lock.acquire()
    except UsageError:
        raise UsageError(f"--rejects {rejects_path} is the rejects file of a run in progress "
                         f"(it holds {lock.path}): validate would replace that run's record; "
                         "choose another path") from None
    lock.release()


async def arun(mapping: MappingLike, source: Any = None, **options: Any) -> Report:
    """`run` for async callers: `await backfill.arun(mapping, source, site_id=..., ...)`, the
    same options; the run goes on in a thread of its own while the caller's loop serves others.
    A library run installs no signal handler (only the main thread's `run` does, and gives the
    caller's back when it returns): stop it by its own means (a Retry-After over `max_wait`,
    an error) or by stopping the process."""
    import asyncio

    return await asyncio.to_thread(run, mapping, source, **options)


def _check_rereads(p: flow.Plan, checkpoint: str | None, missing: str) -> list[str]:
    """Refuse what needs a source read again (a resume, `--missing`'s census) when it cannot
    be; the names of database queries with no resume_key (a stopped run starts over)."""
    from backfill.sources.database import DatabaseSource

    unordered = [s.name for s in p.sources if isinstance(s, DatabaseSource) and not s.keyed]
    if checkpoint and unordered:
        raise UsageError(f"checkpoint: {unordered[0]} has no resume_key, so its rows come in no "
                         "fixed order and a resume could not skip them; set source.resume_key "
                         "(a column that orders the rows), or leave out the checkpoint")
    once = next((s.name for s in p.sources if not s.resumable), None)
    if checkpoint and once:
        raise UsageError(f"checkpoint: {once} can be read once only, so a resume could not skip "
                         "its rows; write it to a file or pass a DataFrame to resume, or leave "
                         "out the checkpoint")
    if missing != "ignore" and once:
        raise UsageError(f"missing={missing!r}: {once} can be read once only, and --missing "
                         "reads the input twice (its keys first, for the breaker); write it to "
                         "a file or pass a DataFrame")
    return unordered


def command_line_source(inputs: tuple[str, ...], database: str | None, query: str | None
                        ) -> list[str] | dict:
    """INPUT files, or `--database URL --query SQL` (together, without files)."""
    if database is None and query is None:
        return list(inputs)
    if not database or not query or inputs:
        raise UsageError("--database and --query go together, without INPUT files")
    return {"database": database, "query": query}


def _path(value: str | os.PathLike | None) -> str | None:
    return os.fspath(value) if value is not None else None


def _unkept(p: flow.Plan, rejects_path: str | None, rejected: int) -> list[str]:
    if rejects_path is not None or not rejected:
        return []
    return [f"{rejected:,} rejects of {p.sources[0].name} were counted but not kept: pass "
            "rejects=PATH to keep them"]


class _dump:  # noqa: N801 - used as a context manager, like open()
    """A dump target: a path (opened here, closed after) or a binary file (left open)."""

    def __init__(self, target: str | os.PathLike | IO[bytes] | None):
        self.target = target
        self.opened: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes] | None:
        if self.target is None or hasattr(self.target, "write"):
            return self.target  # type: ignore[return-value]
        path = Path(os.fspath(self.target))  # type: ignore[arg-type]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.opened = os.fdopen(open_private(path, option="--dump-batches"), "wb")
        except OSError as exc:
            raise UsageError(f"--dump-batches {path} cannot be written ({exc.strerror}); "
                             "choose a writable place") from None
        return self.opened

    def __exit__(self, *exc: object) -> None:
        if self.opened is not None:
            self.opened.close()
