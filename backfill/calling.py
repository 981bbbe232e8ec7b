"""How the Python API is called: the numbers a caller passed, checked, and a call that must
not nest its own event loop in the caller's (a notebook's, an async service's)."""

from __future__ import annotations

from typing import Any

from backfill.errors import UsageError


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
