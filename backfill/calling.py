"""How the Python API is called: the numbers a caller passed, checked; a call that must
not nest its own event loop in the caller's (a notebook's, an async service's); and messages in
the caller's words (`state=`, not `--state`, unless the command line called)."""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

from backfill.errors import BackfillError, UsageError

COMMAND_LINE = contextvars.ContextVar("backfill_command_line", default=False)  # the CLI's call
FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)(?: ([A-Za-z0-9_.%/:'\"-]+))?")
WORDS = {"and", "or", "to", "is", "with", "the", "a", "an", "when", "for", "in", "needs", "at",
         "on", "of", "then", "again", "stops", "makes", "says", "takes", "that", "would"}
SWITCHES = {"restart", "full", "event-watermark", "quiet"}  # flags that are True or False
F = TypeVar("F", bound=Callable[..., Any])


def python_words(text: str) -> str:
    """A message's command-line flags as the Python parameters they are: `--max-deletes` ->
    `max_deletes=`, `--restart` -> `restart=True`."""
    def word(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        param, tail = name.replace("-", "_"), ""
        if value:  # a sentence's punctuation after the value is not part of it
            tail = value[len(value.rstrip(".:,;")):]
            value = value.rstrip(".:,;") or None
        if name in SWITCHES:
            return f"{param}=True" + (f" {value}" if value else "") + tail
        if value is None or value in WORDS:
            return f"{param}=" + (f" {value}" if value else "") + tail
        shown = value if value.isupper() or value.replace(".", "").isdigit() else repr(value)
        return f"{param}={shown}{tail}"
    return FLAG.sub(word, text)


def in_callers_words(call: F) -> F:
    """The errors of an API function say the parameters a Python caller passed, not flags."""
    @functools.wraps(call)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except BackfillError as exc:
            if not COMMAND_LINE.get() and exc.args and isinstance(exc.args[0], str):
                exc.args = (python_words(exc.args[0]), *exc.args[1:])
            raise
    return wrapper  # type: ignore[return-value]


def checked_numbers(choices: dict[str, tuple[str, tuple[str, ...]]] | None = None,
                    **values: float | None) -> None:
    """Numbers a caller passed: a rate or a count of 0 or below is a usage error, not a hang;
    `choices`: name -> (value, the values allowed)."""
    for name, (value, allowed) in (choices or {}).items():
        if value not in allowed:
            raise UsageError(f"{name}={value!r}: give one of {', '.join(map(repr, allowed))}")
    for name, value in values.items():
        least = 0 if name in ("max_wait", "drain_timeout", "log_every") else 1e-9
        if value is not None and (not isinstance(value, int | float) or value < least):
            raise UsageError(f"{name}={value!r}: give a number of at least "
                             f"{'0' if least == 0 else 'more than 0'}")


def outside_any_loop(call: Any, *args: Any) -> Any:
    """`call(*args)` here, or, when an event loop runs in this thread (a notebook, an async
    service), in a thread of its own, whose result or error is this call's: the run makes its
    own event loop, which cannot nest in the caller's."""
    import asyncio
    import concurrent.futures

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call(*args)
    with concurrent.futures.ThreadPoolExecutor(1, "backfill-run") as pool:
        return pool.submit(call, *args).result()
