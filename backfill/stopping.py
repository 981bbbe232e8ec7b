"""How a run hears that it must stop: SIGINT, SIGTERM (what Kubernetes, Docker, systemd and
Airflow send) and SIGHUP (a closed terminal or ssh session), the same way from the first instant
of a run to the last, and only in the main thread. The caller's handlers are given back when the
run returns (a scheduler's, a notebook's).

- Before sending starts (loading, the `--missing` census), a signal stops the run at once:
  `Interrupted`, "nothing was sent" (exit 3).
- While sending (`during`), the first signal drains (no new bodies, requests in flight finish
  within `--drain-timeout`, the checkpoint saved); a second one stops at once, still leaving a
  valid checkpoint.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from backfill.errors import Interrupted

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                if hasattr(signal, name))


def name_of(signum: int) -> str:
    return signal.Signals(signum).name


class Guard:
    """What `before_sending` needs to say: whether sending has begun."""

    sending = False


@contextmanager
def before_sending() -> Iterator[Guard]:
    """For the whole run: a signal outside `during` raises `Interrupted` where the run is
    (before sending, nothing is at stake; after it, the final save is atomic)."""
    guard = Guard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return

    def stop(signum: int, _frame: object) -> None:
        raise Interrupted(f"{name_of(signum)}" + (
            " while the run was finishing" if guard.sending else
            " before anything was sent: nothing was sent"))

    previous = {sig: signal.signal(sig, stop) for sig in SIGNALS}
    try:
        yield guard
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


@contextmanager
def during(loop: asyncio.AbstractEventLoop, handler: Callable[[str], None]) -> Iterator[None]:
    """While sending: `handler(name of the signal)` in the event loop, for each signal."""
    installed = []
    for sig in SIGNALS:
        previous = signal.getsignal(sig)
        try:
            loop.add_signal_handler(sig, handler, name_of(sig))
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
            continue
        installed.append((sig, previous))
    try:
        yield
    finally:
        for sig, previous in installed:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous if previous is not None else signal.SIG_DFL)
