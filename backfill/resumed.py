"""What a stopped `run` prints: why, where its checkpoint is, and the command that resumes it
(as typed, without the credentials)."""

from __future__ import annotations

import shlex

import click

from backfill.errors import Stopped


def say_stopped(exc: Stopped, ctx: click.Context) -> int:
    """Print the stop on stderr; the exit code (3, or 4 when the cause must be fixed first)."""
    click.echo(f"stopped: {exc}", err=True)
    where = f"the checkpoint is saved in {exc.checkpoint}; " if exc.checkpoint else ""
    then = "once that is fixed, " if exc.exit_code == 4 else ""
    click.echo(f"{where}{then}to resume, run the same command again:\n  "
               f"{resume_command(ctx)}", err=True)
    return exc.exit_code


def resume_command(ctx: click.Context) -> str:
    """The command as given on the command line, without credentials (they come from env) and
    with the query strings of URLs redacted (a presigned URL's signature: give it again)."""
    from backfill.sources.database import redacted
    from backfill.storage import shown

    words = ["backfill", ctx.info_name or "run"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        source = ctx.get_parameter_source(param.name)
        if param.name in ("site_id", "api_key") or source is not click.core.ParameterSource.COMMANDLINE:
            continue
        if isinstance(param, click.Argument):
            words += [shown(str(v)) for v in (value if isinstance(value, tuple) else [value])]
        elif param.is_flag:  # a resume must not start over
            words += [param.opts[0]] if value and param.name != "restart" else []
        else:
            words += [param.opts[0], redacted(str(value)) if param.name == "database"
                      else shown(str(value))]
    return " ".join(shlex.quote(w) for w in words)
