"""The report of a run: its figures, the rejects summary, and its text and JSON forms. Pure.

A `Report` is the result a call returns, built once at the end from the run's `Tally`
(runfiles/tally.py), which the threads write while the run goes on.

- `rows_read`: rows this call read from its sources (not those skipped as done before);
- `rows_skipped`: rows skipped because an earlier run had done them (a resume);
- `rows_done`: `run` only, rows the checkpoint counts as done, this run and earlier ones;
- with `--state`: `rows_new`, `rows_changed`, `rows_unchanged` (not sent), `keys_missing`
  and `operations_mirrored` (the deletes or suppressions of `--missing`);
- the `operations_*`, `requests`, `retries`, `bytes_sent` and `rows_rejected` of a resumed run
  continue the counts of the runs before it; packing figures describe this call alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from backfill.contract import MAX_BATCH_BYTES

REPORT_VERSION = 2  # of `to_dict()`'s shape: 2 has every field, always, as in Python


@dataclass(frozen=True)
class Report:
    """What a `validate` or `run` did; `exit_code` is the one the CLI exits with. Its fields
    are the JSON report's (`to_dict()`), with the same names, types and values."""

    mode: str = "validate"
    rows_read: int = 0
    rows_skipped: int = 0
    rows_done: int = 0
    rows_rejected: int = 0
    operations_packed: int = 0
    operations_delivered: int = 0
    operations_rejected: int = 0
    requests: int = 0
    retries: int = 0
    batches: int = 0
    bytes_packed: int = 0
    bytes_sent: int = 0
    elapsed_s: float = 0.0  # seconds, to the millisecond
    exit_code: int = 0
    rate: float = 1000.0
    operations_by_type: dict[str, int] = field(default_factory=dict)  # "person identify": n
    rejects_by_stage: dict[str, int] = field(default_factory=dict)
    rejects: list[dict[str, Any]] = field(default_factory=list)  # by reason, with examples
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # where earlier runs' files were kept
    rejects_file: str | None = None  # None: nothing was rejected (no file was written)
    resumed: bool = False
    state: str | None = None  # with --state: the state's path, and the figures below
    rows_new: int = 0  # rows whose keys the state did not hold
    rows_changed: int = 0  # rows with an operation whose bytes differ from those last delivered
    rows_unchanged: int = 0  # rows not sent: every operation as last delivered
    keys_missing: int | None = None  # keys of the state gone from the input (None: not known)
    operations_mirrored: int = 0  # --missing delete|suppress: operations undoing them
    events_recent: int = 0  # events that can trigger campaigns (`recent_events`): from the
    events_future: int = 0  # last 72 hours, these dated in the future,
    events_untimed: int = 0  # and these without a time (the API stamps them now)
    # `run` with adaptive sending: the window and rate in use (now, min, median, max), round
    # trips (p50, p99), 429s and the bytes sent again (`delivery.pacing.Pacing.figures`)
    sending: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "elapsed_s", round(self.elapsed_s, 3))
        object.__setattr__(self, "operations_by_type", {
            (" ".join(k) if isinstance(k, tuple) else k): n
            for k, n in sorted(self.operations_by_type.items())})

    @property
    def fill_ratio(self) -> float:
        """The mean body's bytes over the 500,000 allowed."""
        return round(self.bytes_packed / self.batches / MAX_BATCH_BYTES, 6) if self.batches \
            else 0.0

    @property
    def estimated_send_s(self) -> float:
        """How long sending the batches takes at `rate` (what `validate` foretells)."""
        return round(self.batches / self.rate, 3) if self.rate else 0.0

    @property
    def rejects_path(self) -> str | None:
        """The former name of `rejects_file`."""
        return self.rejects_file

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: `report_version`, every field, and `fill_ratio` and
        `estimated_send_s`."""
        return {"report_version": REPORT_VERSION, **asdict(self),
                "fill_ratio": self.fill_ratio, "estimated_send_s": self.estimated_send_s}

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"

    def to_text(self) -> str:
        lines = [f"note: {n}" for n in self.notes]  # before the summary, as they happened
        verb = "validated (nothing sent)" if self.mode == "validate" else "sent"
        lines.append(f"{plural(self.rows_read, 'row')} read, {verb} in {self.elapsed_s:.1f} s")
        if self.rows_skipped:
            lines.append(f"  {plural(self.rows_skipped, 'row')} skipped (done by an earlier run)")
        good = (self.rows_read if self.mode == "validate" else self.rows_done) - self.rows_rejected
        lines.append(f"  {plural(good, 'row')} mapped, {self.rows_rejected:,} rejected"
                     + (" (this run and the ones before it)" if self.resumed else "")
                     + (f" -> {self.rejects_file}" if self.rows_rejected and self.rejects_file
                        else ""))
        for item in self.rejects:
            lines += _reject_group(item)
        if self.state:
            missing = "unknown (a resume reads only part of the input)" \
                if self.keys_missing is None else f"{self.keys_missing:,}"
            lines.append(f"  against the state: {self.rows_new:,} new, {self.rows_changed:,} "
                         f"changed, {self.rows_unchanged:,} unchanged (not sent); keys missing: "
                         f"{missing}" + (f", {self.operations_mirrored:,} undone"
                                         if self.operations_mirrored else ""))
        lines.append(f"operations: {self.operations_packed:,}"
                     + (" (packed by this run)" if self.resumed else ""))
        for kind, n in self.operations_by_type.items():
            lines.append(f"  {kind}: {n:,}")
        lines.append(f"batches: {self.batches:,}, {self.bytes_packed:,} bytes, "
                     f"fill ratio {self.fill_ratio:.3f}")
        if self.mode == "validate":
            lines.append(f"sending would take about {_duration(self.estimated_send_s)} at "
                         f"{self.rate:g} requests/s")
        else:
            lines.append(f"delivered{' in all runs' if self.resumed else ''}: "
                         f"{plural(self.operations_delivered, 'operation')} in "
                         f"{plural(self.requests, 'request')} ({plural(self.retries, 'retry', 'retries')})"
                         f", {self.operations_rejected:,} refused by the API")
            if self.sending and self.requests:
                lines.append(_sending(self.sending))
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)


def _sending(s: dict[str, Any]) -> str:
    """One line of the adaptive sending's figures."""
    c, r, ms = s["concurrency"], s["rate"], s["latency_ms"]
    latency = f", round trips p50 {ms['p50']:g} ms, p99 {ms['p99']:g} ms" if ms["p50"] else ""
    throttled = f", {s['throttled']:,} throttled ({100 * s['throttled_share']:.1f}%)" \
        if s["throttled"] else ""
    return (f"sending: {c['min']:g}-{c['max']:g} in flight (median {c['median']:g}), "
            f"{r['min']:,.0f}-{r['max']:,.0f} requests/s allowed{latency}{throttled}")


def plural(count: int, one: str, many: str | None = None, shown: str | None = None) -> str:
    """`1 row`, `2,000 rows` (`shown`: the count as written, if not with commas)."""
    return f"{shown or f'{count:,}'} {one if count == 1 else many or one + 's'}"


def _reject_group(item: dict[str, Any]) -> list[str]:
    """A group of rejects: its first example's own reason (with its values, not the group's
    `N` placeholders), and where each example is."""
    examples = item["examples"]
    first = examples[0]["reason"] if examples else item["reason"]
    others = "" if item["count"] == 1 else " (and others like it)"
    lines = [f"    [{item['stage']}] {plural(item['count'], 'row')}: {first}{others}"]
    for ex in examples:
        where = f"line {ex['line']}" if ex["line"] else f"row {ex['row']}"
        lines.append(f"        {ex['input']} {where}"
                     + ("" if ex["reason"] == first else f": {ex['reason']}"))
    return lines


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
