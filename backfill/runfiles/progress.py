"""The progress bar on stderr (tqdm): off with `quiet` or when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

import orjson
from tqdm import tqdm

from backfill.runfiles.report import plural


@contextmanager
def progress(total: int, quiet: bool, unit: str = "B") -> Iterator[tqdm]:
    """A bar over `total` units (bytes: scaled by 1024; rows: by 1000); 0 means unknown."""
    disable = quiet or not sys.stderr.isatty()
    bar = tqdm(total=total or None, unit=unit, unit_scale=True,
               unit_divisor=1024 if unit == "B" else 1000, disable=disable,
               dynamic_ncols=True, desc="reading")
    try:
        yield bar
    finally:
        bar.close()


def moved(bar: tqdm) -> Callable[[int], None]:
    """A flow's `on_progress`: the bar moved to how far the input is read."""
    return lambda done: bar.update(done - bar.n)


class DeliveryBar:
    """`run`'s bar: how much of the input is delivered, not read. The reader reports how far it
    has read (`moved`, from its thread); the saver loop `show`s the rows done (this run's and
    the checkpoint's) and the sending figures. The position is the input read so far scaled by
    the share of its rows that are done, so the rate and the ETA are delivery's; a resume starts
    where the checkpoint is. One line of at most 80 columns."""

    def __init__(self, total: int, quiet: bool, unit: str = "B", file: IO[str] | None = None,
                 log_every: float = 30.0, log_format: str = "text"):
        file = file or sys.stderr
        disable = quiet or not file.isatty() or log_format == "json"
        # without a terminal (a scheduler's log) or with JSON logs: a line every `log_every` s
        self.log_every = None if quiet or not disable or log_every <= 0 else log_every
        self.log_format, self.file, self.total = log_format, file, total
        self.started = self.logged = time.monotonic()
        # tqdm puts ", " before the postfix
        self.bar = tqdm(total=total or None, unit=unit, disable=disable, desc="sending",
                        bar_format="{desc} {percentage:3.0f}%{postfix} | {elapsed}<{remaining}"
                        if total else "{desc}{postfix} | {elapsed}", ncols=80,
                        file=file)
        self.read = 0
        self.in_flight: Callable[[], int] | None = None  # the adaptive window, when there is one

    def moved(self, read: int) -> None:
        self.read = read

    def show(self, done: int, seen: int, operations: int, per_s: float, retries: int,
             rejected: int) -> None:
        """`done` of the `seen` rows (read or skipped as done before) are done."""
        position = self.read if seen and done >= seen else \
            int(self.read * done / seen) if seen else 0
        if self.log_every is not None and time.monotonic() - self.logged >= self.log_every:
            self.logged = time.monotonic()
            self._log(done, operations, per_s, retries, rejected, position)
        if self.bar.total:
            position = min(position, int(self.bar.total))
        self.bar.update(position - self.bar.n)
        parts = [_count(done, "row"), _count(operations, "op"), f"{per_s:,.0f} req/s"]
        if self.in_flight is not None:
            parts.append(f"{self.in_flight()} in flight")
        if retries:
            parts.append(_count(retries, "retry", "retries"))
        if rejected:
            parts.append(_count(rejected, "rejected", "rejected"))
        self.bar.set_postfix_str(", ".join(parts), refresh=True)

    def _log(self, done: int, operations: int, per_s: float, retries: int, rejected: int,
             position: int) -> None:
        """One line for a log that has no terminal: how far, how fast, the time left."""
        elapsed = time.monotonic() - self.started
        share = position / self.total if self.total else None
        eta = elapsed * (1 - share) / share if share else None
        if self.log_format == "json":
            line = orjson.dumps({"event": "progress", "rows_done": done,
                                 "operations_delivered": operations,
                                 "requests_per_s": round(per_s, 1), "retries": retries,
                                 "rejected": rejected, "elapsed_s": round(elapsed, 1),
                                 "eta_s": None if eta is None else round(eta, 1)}).decode()
        else:
            left = "" if eta is None else f", about {eta:,.0f} s left"
            line = (f"progress: {done:,} rows and {operations:,} operations delivered, "
                    f"{per_s:,.0f} requests/s, {retries:,} retries, {rejected:,} rejected, "
                    f"{elapsed:,.0f} s{left}")
        print(line, file=self.file, flush=True)

    def close(self) -> None:
        self.bar.close()


def _count(n: int, one: str, many: str | None = None) -> str:
    """`1 row`, `45,000 rows`, `1.23M rows`: short enough for one line."""
    return plural(n, one, many, None if n < 100_000 else tqdm.format_sizeof(n, divisor=1000))
