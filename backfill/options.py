"""The options of `run` as small public objects, with the one set of defaults that the command
line shows and builds too:

    backfill.run(mapping, "people.csv", site_id=..., api_key=...,
                 sending=backfill.Sending(rate=500, retries=20),
                 nightly=backfill.Nightly("people.state", missing="delete"))

Pure: nothing here reads, sends or checks more than the values themselves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from backfill.errors import UsageError

RATE = 1000.0  # requests/s: the Track API's documented fair use
CONCURRENCY_ADAPTIVE = 256  # the adaptive window's ceiling: 1,000 requests/s at 250 ms
CONCURRENCY_FIXED = 8  # in flight with adaptive=False
MISSING = ("ignore", "delete", "suppress")


@dataclass(frozen=True)
class Sending:
    """How `run` sends. `rate` (requests/s) and `concurrency` (in flight at most) are ceilings
    while `adaptive` (the default) lets both follow the network and the API's throttling, and
    exact values without it; None: the mapping's `api:` section, then 1,000/s and 256 (8 with
    `adaptive=False`). `retries`: tries of one request before the run stops; `max_wait`: the
    longest Retry-After waited out (a longer one stops the run, resumably); `drain_timeout`: on
    SIGTERM, SIGINT or SIGHUP, how long requests in flight may take to finish; `timeout`: of
    one request, in seconds."""

    rate: float | None = None
    concurrency: int | None = None
    adaptive: bool = True
    retries: int = 10
    max_wait: float = 120.0
    drain_timeout: float = 8.0
    timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in ("rate", "concurrency", "retries", "timeout"):
            _at_least(name, getattr(self, name), 1e-9)
        for name in ("max_wait", "drain_timeout"):
            _at_least(name, getattr(self, name), 0.0)
        if self.concurrency is not None and int(self.concurrency) != self.concurrency:
            raise UsageError(f"concurrency={self.concurrency!r}: give a whole number")
        if not isinstance(self.adaptive, bool):
            raise UsageError(f"adaptive={self.adaptive!r}: give True or False")

    def resolved(self, rate: float | None, concurrency: int | None) -> tuple[float, int]:
        """(rate, concurrency) with the mapping's `api:` values where these are None."""
        fallback = CONCURRENCY_ADAPTIVE if self.adaptive else CONCURRENCY_FIXED
        return (self.rate or rate or RATE,
                int(self.concurrency or concurrency or fallback))


@dataclass(frozen=True)
class Nightly:
    """A nightly job: `state` is the file that remembers what was delivered, and only rows whose
    operations differ from it are sent. `missing` (ignore, delete, suppress) undoes the keys
    gone from tonight's input, at most `max_deletes` (a count, or "N%" of the state's keys) or
    nothing is sent; `full` sends everything and rewrites the state; `event_watermark`: events
    are not kept in the state, only the latest time sent, and older ones are not sent."""

    state: str | os.PathLike
    missing: str = "ignore"
    max_deletes: str | int = "1%"
    full: bool = False
    event_watermark: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", os.fspath(self.state))
        object.__setattr__(self, "max_deletes", str(self.max_deletes))
        if self.missing not in MISSING:
            raise UsageError(f"missing={self.missing!r}: give one of "
                             f"{', '.join(map(repr, MISSING))}")

    @property
    def path(self) -> str:
        return str(self.state)


def one_way(kind: type, given: Any, name: str, **fields: Any) -> Any:
    """`given` (an options object), or one of `kind` made of the `fields` passed one by one
    (None: not passed); both is a usage error (which would win?)."""
    passed = {k: v for k, v in fields.items() if v is not None}
    if given is not None and passed:
        raise UsageError(f"{', '.join(f'{k}=' for k in passed)} and {name}= both given: pass "
                         f"them in {name}={kind.__name__}(...) alone")
    if given is not None and not isinstance(given, kind):
        raise UsageError(f"{name}={given!r}: give a backfill.{kind.__name__}(...)")
    return given if given is not None else kind(**passed)


def nightly_from(given: Nightly | None, state: str | os.PathLike | None, **fields: Any
                 ) -> Nightly | None:
    """The nightly job `run` was given, either way; None without a state (the other fields
    alone are a usage error: they need one)."""
    if given is None and state is None:
        flags = {"full": "--full", "missing": "--missing", "event_watermark": "--event-watermark"}
        used = [flags[k] for k, v in fields.items() if k in flags and v not in
                (None, False, "ignore")]
        if used:
            raise UsageError(f"{used[0]} needs a state: pass --state PATH (the file that "
                             "remembers what was delivered)")
        return None
    return one_way(Nightly, given, "nightly", state=state, **fields)


def _at_least(name: str, value: object, least: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value < least:
        raise UsageError(f"{name}={value!r}: give a number of at least "
                         f"{'0' if least == 0 else 'more than 0'}")
