"""The command line's options, in the groups its commands share, with their defaults taken from
the option objects of the Python API (`backfill.options`): one set of defaults for both."""

from __future__ import annotations

import functools
from collections.abc import Callable

import click

from backfill.options import MISSING, Nightly, Sending
from backfill.runfiles.archives import KEEP
from backfill.runfiles.atomic import writable

SENDING, NIGHTLY = Sending(), Nightly("")  # the defaults the options show
FORMATS = click.Choice(["csv", "ndjson", "parquet"])


def _options(*decorators: Callable) -> Callable:
    return lambda f: functools.reduce(lambda g, d: d(g), reversed(decorators), f)


mapping_and_inputs = _options(
    click.argument("mapping", type=click.Path(dir_okay=False)),
    click.argument("inputs", nargs=-1),
    click.option("--format", "fmt", type=FORMATS, help="Input format when the extension does "
                 "not say (stdin, odd names); overrides source.format."),
    click.option("--database", help="Read a query's rows instead: postgresql://user@host/db "
                 "(the password from PGPASSWORD or ~/.pgpass), with --query."),
    click.option("--query", help="With --database: the SELECT whose rows are imported."),
)
output_options = _options(
    click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False),
                 help="Where rejected rows go (NDJSON). Default: <first input>.rejects.ndjson "
                 "(validate: <first input>.validate.rejects.ndjson)."),
    click.option("--report", "report_path", type=click.Path(dir_okay=False),
                 callback=lambda _ctx, _param, path: writable(path, "--report"),
                 help="Also write the summary as JSON to this file."),
    click.option("--quiet", is_flag=True, help="No progress bar."),
)
sending_options = _options(
    click.option("--endpoint", envvar="BACKFILL_ENDPOINT", help="Base URL of the Track API (an "
                 "emulator's, say); overrides --region. Env: BACKFILL_ENDPOINT."),
    click.option("--region", type=click.Choice(["us", "eu", "auto"]), default=None,
                 help="us, eu, or auto (default): ask /api/v1/accounts/region."),
    click.option("--site-id", envvar="CUSTOMERIO_SITE_ID", help="Env: CUSTOMERIO_SITE_ID."),
    click.option("--api-key", envvar="CUSTOMERIO_API_KEY", help="Track API key. "
                 "Env: CUSTOMERIO_API_KEY (preferred: options show in process lists)."),
    click.option("--rate", type=click.FloatRange(min=0.001), default=None,
                 help="Requests per second, all workers together (default: api.rate or 1000)."),
    click.option("--concurrency", type=click.IntRange(min=1), default=None,
                 help="Requests in flight at most (default: api.concurrency, or 256 adaptive, "
                 "8 with --adaptive off)."),
    click.option("--adaptive", type=click.Choice(["on", "off"]), default="on", show_default=True,
                 help="on: in flight and rate follow the network and the API's throttling, up "
                 "to --concurrency and --rate; off: exactly --concurrency at --rate."),
    click.option("--retries", type=click.IntRange(min=1), default=SENDING.retries,
                 show_default=True,
                 help="Tries of one request before the run stops (exit 3, resumable)."),
    click.option("--empty", type=click.Choice(["warn", "fail"]), default="warn", show_default=True,
                 help="An input with no rows: a warning (exit 0), or an error (exit 2)."),
    click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
                 show_default=True, help="Without a terminal, a progress line every "
                 "--log-every seconds; json: progress and the final report as JSON lines."),
    click.option("--log-every", type=click.FloatRange(min=0), default=30, show_default=True,
                 metavar="SECONDS", help="How often the progress line (0: never)."),
    click.option("--drain-timeout", type=click.FloatRange(min=0),
                 default=SENDING.drain_timeout, show_default=True,
                 metavar="SECONDS", help="On SIGTERM, SIGINT or SIGHUP: how long requests in "
                 "flight may take to finish before the checkpoint is saved (exit 3)."),
    click.option("--max-wait", type=click.FloatRange(min=0), default=SENDING.max_wait,
                 show_default=True,
                 metavar="SECONDS", help="The longest Retry-After pause waited out; a longer "
                 "one stops the run (exit 3, resumable) saying when to come back."),
)
nightly_options = _options(
    click.option("--state", "state_path", type=click.Path(dir_okay=False),
                 help="Nightly jobs: send only rows whose operations differ from those last "
                 "delivered, and remember tonight's in this file."),
    click.option("--full", is_flag=True, help="With --state: send all, rewrite the state."),
    click.option("--missing", type=click.Choice(list(MISSING)),
                 default=NIGHTLY.missing, show_default=True, help="With --state: what to do with "
                 "keys delivered before and gone from tonight's input."),
    click.option("--max-deletes", default=NIGHTLY.max_deletes, show_default=True,
                 metavar="N|N%",
                 help="With --missing: above this many deletes (or share of the state), send "
                 "nothing and exit 2."),
    click.option("--event-watermark", is_flag=True, help="With --state: send only events at "
                 "or after the last run's latest event time."),
)
resume_options = _options(
    click.option("--checkpoint", "checkpoint_path", type=click.Path(dir_okay=False),
                 help="Default: beside the first input, <input>.checkpoint.json."),
    click.option("--restart", is_flag=True, help="Ignore an existing checkpoint and start over."),
    click.option("--keep", type=click.IntRange(min=0), default=KEEP, show_default=True,
                 metavar="N", help="Dated archives of a finished run's checkpoint and rejects "
                 "kept beside them (the newest N of each; older ones are removed)."),
)
