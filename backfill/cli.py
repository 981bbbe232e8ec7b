"""The command line: parse, call `pipeline`, map errors to exit codes. No logic of its own."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from backfill import __version__, pipeline
from backfill.config import load_mapping
from backfill.errors import BackfillError

FORMATS = click.Choice(["csv", "ndjson", "parquet"])


class _Group(click.Group):
    """Turns the tool's own errors into a message and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except BackfillError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(3)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backfill")
def cli() -> None:
    """Import large CSV, NDJSON and Parquet files into Customer.io through its Track API.

    \b
    Example:
      backfill validate configs/people.yaml sample_data/people.csv
    """


@cli.command()
@click.argument("mapping", type=click.Path(dir_okay=False))
@click.argument("inputs", nargs=-1)
@click.option("--format", "fmt", type=FORMATS, help="Input format when the extension does not say "
              "(stdin, odd names); overrides source.format.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False),
              help="Where rejected rows go (NDJSON). Default: <first input>.rejects.ndjson.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Also write the summary as JSON to this file.")
@click.option("--dump-batches", "dump_path", type=click.Path(dir_okay=False),
              help="Write each request body, one per line, exactly as `run` would send it.")
@click.option("--rate", type=click.FloatRange(min=0.001), default=None,
              help="Requests per second used for the time estimate (default: api.rate or 1000).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def validate(mapping: str, inputs: tuple[str, ...], fmt: str | None, rejects_path: str | None,
             report_path: str | None, dump_path: str | None, rate: float | None,
             quiet: bool) -> None:
    """Read, map, check limits and pack INPUT files as `run` would; send nothing.

    Exit code 0 when every row maps cleanly, 1 when some rows were rejected (see the rejects
    file), 2 for a usage, mapping or input error.

    \b
    Examples:
      backfill validate configs/people.yaml sample_data/people.csv
      backfill validate configs/events.yaml 'exports/*.ndjson.gz' --report report.json
      backfill validate configs/people.yaml people.csv --dump-batches bodies.ndjson
    """
    m = load_mapping(mapping)
    plan = pipeline.make_plan(m, list(inputs), fmt)
    rejects = rejects_path or pipeline.default_rejects_path(plan.inputs)
    rate = rate or m.api.rate or 1000.0
    for path in (dump_path, report_path):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    dump = open(dump_path, "wb") if dump_path else None  # noqa: SIM115
    try:
        report = pipeline.validate(plan, rejects, dump, rate=rate, quiet=quiet)
    finally:
        if dump is not None:
            dump.close()
    if report_path:
        Path(report_path).write_bytes(report.to_json())
    click.echo(report.to_text())
    sys.exit(report.exit_code)


def main() -> None:
    cli(prog_name="backfill")


if __name__ == "__main__":
    main()
