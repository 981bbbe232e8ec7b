"""The command line: parse options, call `backfill.api`, print, map errors to exit codes.

No logic of its own: each command is a call of the API with the options it parsed. Option groups
shared between commands are decorators. `main` tunes polars before anything loads it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import orjson

from backfill._version import __version__
from backfill.calling import COMMAND_LINE
from backfill.errors import BackfillError, Stopped
from backfill.flags import (
    FORMATS,
    NIGHTLY,
    mapping_and_inputs,
    nightly_options,
    output_options,
    resume_options,
    sending_options,
)
from backfill.options import Nightly, Sending
from backfill.runfiles.atomic import write_bytes
from backfill.runfiles.outputs import expanded, refuse_inputs
from backfill.tuning import tune_polars

if TYPE_CHECKING:
    from backfill.runfiles.report import Report

class _Group(click.Group):
    """Turns the tool's own errors into a message and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        token = COMMAND_LINE.set(True)  # messages keep their flags' names
        try:
            return super().invoke(ctx)
        except BackfillError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(3)
        finally:
            COMMAND_LINE.reset(token)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backfill")
def cli() -> None:
    """Import large CSV, NDJSON and Parquet files into Customer.io through its Track API.

    \b
    Example:
      backfill validate configs/people.yaml sample_data/people.csv
    """


def _finish(report: Report, report_path: str | None, log_format: str = "text") -> None:
    """Write the JSON report if asked, print the summary (JSON logs: one JSON line), exit."""
    if report_path:
        write_bytes(report_path, report.to_json())
    click.echo(orjson.dumps({"event": "report", **report.to_dict()}).decode()
               if log_format == "json" else report.to_text())
    sys.exit(report.exit_code)


@cli.command()
@mapping_and_inputs
@output_options
@click.option("--dump-batches", "dump_path", type=click.Path(dir_okay=False),
              help="Write each request body, one per line, exactly as `run` would send it.")
@click.option("--rate", type=click.FloatRange(min=0.001), default=None,
              help="Requests per second used for the time estimate (default: api.rate or 1000).")
def validate(mapping: str, inputs: tuple[str, ...], fmt: str | None, database: str | None,
             query: str | None, rejects_path: str | None, report_path: str | None, quiet: bool,
             dump_path: str | None, rate: float | None) -> None:
    """Read, map, check limits and pack INPUT files as `run` would; send nothing.

    Exit code 0 when every row maps cleanly, 1 when some rows were rejected (see the rejects
    file), 2 for a usage, mapping or input error.

    \b
    Examples:
      backfill validate configs/people.yaml sample_data/people.csv
      backfill validate configs/events.yaml 'exports/*.ndjson.gz' --report report.json
      backfill validate configs/people.yaml people.csv --dump-batches bodies.ndjson
    """
    from backfill import api

    source = api.command_line_source(inputs, database, query)
    refuse_inputs({"--report": report_path}, [mapping, *expanded(inputs)])
    report = api.validate(mapping, source, rejects_path, dump_path, format=fmt, rate=rate,
                          quiet=quiet)
    _finish(report, report_path)


@cli.command()
@mapping_and_inputs
@sending_options
@resume_options
@nightly_options
@output_options
def run(mapping: str, inputs: tuple[str, ...], fmt: str | None, database: str | None,
        query: str | None, endpoint: str | None,
        region: str | None, site_id: str | None, api_key: str | None, rate: float | None,
        concurrency: int | None, adaptive: str, retries: int, empty: str, log_format: str,
        log_every: float, drain_timeout: float, max_wait: float, checkpoint_path: str | None,
        restart: bool, keep: int,
        state_path: str | None, full: bool, missing: str, max_deletes: str,
        event_watermark: bool, rejects_path: str | None, report_path: str | None,
        quiet: bool) -> None:
    """Send INPUT files to the Track API as MAPPING says; resumable after any stop.

    Exit code 0 when every row was delivered, 1 when some rows or operations were rejected (see
    the rejects file), 2 for a usage, mapping or input error found before sending (or another
    run holding the checkpoint), 3 when the run stopped early (endpoint unreachable, retries
    exhausted, a Retry-After over --max-wait, interrupted, disk full): the same command resumes
    from the checkpoint; 4 when it stopped on what must be fixed first (key refused, a
    redirect, an answer not from the Track API, a wrong endpoint).

    \b
    Examples:
      export CUSTOMERIO_SITE_ID=... CUSTOMERIO_API_KEY=...
      backfill run configs/people.yaml sample_data/people.csv
      backfill run configs/events.yaml 'exports/*.ndjson.gz' --rate 500 --report run.json
      backfill run configs/people.yaml people.csv --endpoint http://127.0.0.1:8080
      backfill run configs/people.yaml nightly.csv --state people.state --missing delete
    """
    from backfill import api

    refuse_inputs({"--report": report_path}, [mapping, *expanded(inputs)])
    if click.get_current_context().get_parameter_source("api_key") is \
            click.core.ParameterSource.COMMANDLINE:
        click.echo("note: --api-key on the command line is visible to every user of this "
                   "machine in process lists (ps); set CUSTOMERIO_API_KEY instead", err=True)
    try:
        sending = Sending(rate=rate, concurrency=concurrency, adaptive=adaptive == "on",
                          retries=retries, max_wait=max_wait, drain_timeout=drain_timeout)
        nightly = Nightly(state_path, missing, max_deletes, full, event_watermark) \
            if state_path else None
        stray = {} if state_path else {  # said to need --state
            "full": full or None, "event_watermark": event_watermark or None,
            "missing": None if missing == NIGHTLY.missing else missing}
        report = api.run(mapping, api.command_line_source(inputs, database, query),
                         site_id=site_id or "", api_key=api_key or "", endpoint=endpoint,
                         region=region, checkpoint=checkpoint_path, rejects=rejects_path,
                         restart=restart, format=fmt, quiet=quiet, sending=sending,
                         nightly=nightly, empty=empty, log_format=log_format,
                         log_every=log_every, keep=keep, **stray)
    except Stopped as exc:
        from backfill.resumed import say_stopped

        sys.exit(say_stopped(exc, click.get_current_context()))
    _finish(report, report_path, log_format)


@cli.command()
@click.argument("input_path", metavar="INPUT")
@click.option("--type", "kind", type=click.Choice(["person", "object", "event"]),
              default="person", show_default=True, help="The shape of import to start from.")
@click.option("--format", "fmt", type=FORMATS, help="When the extension does not say.")
@click.option("--sample", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Rows to look at.")
def init(input_path: str, kind: str, fmt: str | None, sample: int) -> None:
    """Print a starter mapping for INPUT's columns (redirect it to a file).

    \b
    Examples:
      backfill init sample_data/people.csv > mapping.yaml
      backfill init exports/events.ndjson --type event > events.yaml
    """
    from backfill import api

    click.echo(api.init(input_path, kind, format=fmt, sample=sample), nl=False)


@cli.command()
@click.argument("paths", metavar="CHECKPOINT|STATE ...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print their content as JSON.")
def status(paths: tuple[str, ...], as_json: bool) -> None:
    """What a checkpoint says (done, left, rejects, fingerprints), and what a nightly state
    holds (keys, last run, its counts).

    \b
    Examples:
      backfill status sample_data/people.csv.checkpoint.json
      backfill status people.csv.checkpoint.json people.state
    """
    from backfill.status import status as describe

    click.echo("\n".join(describe(path, as_json) for path in paths))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to bind; loopback unless you say otherwise.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on; the run's --endpoint is http://HOST:PORT.")
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite file that stores every "
              "accepted operation (default: a temporary file, printed at start); the "
              "workspace they leave is kept beside it, NAME.workspace.sqlite.")
@click.option("--count-only", is_flag=True, help="Store nothing, only count (benchmarks).")
@click.option("--no-workspace", is_flag=True, help="Store the operations without the "
              "workspace they leave (no pages, no /_emulator/people; --db makes it later).")
@click.option("--site-id", envvar="CUSTOMERIO_SITE_ID", default="site", show_default=True,
              show_envvar=True, help="The credentials it accepts (as the run's, from the "
              "same variables).")
@click.option("--api-key", envvar="CUSTOMERIO_API_KEY", default="key", show_default=True, show_envvar=True)
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of 503s.")
@click.option("--throttle-rate", type=click.FloatRange(0, 1), default=0.0,
              help="Share of 429s with Retry-After.")
@click.option("--retry-after", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Seconds the 429s ask to wait.")
@click.option("--drop-rate", type=click.FloatRange(0, 1), default=0.0,
              help="Share of connections closed without an answer.")
@click.option("--lost-answer-rate", type=click.FloatRange(0, 1), default=0.0,
              help="Share of requests processed and stored whose answer is never sent.")
@click.option("--latency-ms", default="0", help="Added latency: N, or MIN-MAX.")
@click.option("--max-body", type=int, default=500_000, show_default=True,
              help="Bodies above this get 413.")
@click.option("--invalid", type=click.Choice(["207", "400"]), default="207", show_default=True,
              help="Invalid operations: list them in a 207, or refuse the whole batch (400).")
@click.option("--seed", type=int, default=None, help="Seed of the fault injection.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False),
              help="Serve HTTPS with this certificate (PEM; clients that speak only https).")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="Its key (PEM).")
def emulator(host: str, port: int, db: str | None, count_only: bool, no_workspace: bool,
             site_id: str, api_key: str, fail_rate: float, throttle_rate: float, retry_after: float,
             drop_rate: float, lost_answer_rate: float, latency_ms: str, max_body: int,
             invalid: str, seed: int | None, tls_cert: str | None, tls_key: str | None) -> None:
    """A local Track API: rehearse an import end to end, or test against faults.

    \b
    Example:
      backfill emulator --port 8080 --db rehearsal.sqlite --site-id site --api-key key
      backfill run configs/people.yaml --endpoint http://127.0.0.1:8080 \\
          --site-id site --api-key key
    """
    from backfill import emulator as emu

    emu.serve_from_options(host, port, db, count_only, not no_workspace, site_id, api_key, fail_rate,
                           throttle_rate, retry_after, drop_rate, lost_answer_rate, latency_ms,
                           max_body, invalid, seed, tls_cert, tls_key,
                           lambda text: click.echo(text, err=True))


@cli.command()
@click.option("--keep", type=click.Path(file_okay=False), default="out/demo", show_default=True,
              help="Folder for the store, checkpoints, rejects and reports.")
@click.option("--keep-open", is_flag=True, help="Then serve the workspace's pages (what "
              "the import would leave in Customer.io) until Ctrl-C.")
def demo(keep: str, keep_open: bool) -> None:
    """Start the emulator, import sample_data/ with configs/, print the summary, stop.

    \b
    Example:
      backfill demo --keep-open
    """
    from backfill.demo import run_demo

    sys.exit(run_demo(Path(keep), click.echo, keep_open=keep_open))


def main() -> None:
    """The console entry point. Every file the commands write is closed when they return, so
    the process ends at once (`os._exit`), not tearing down polars' memory (BENCHMARKS.md)."""
    tune_polars()
    try:
        cli(prog_name="backfill")
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
