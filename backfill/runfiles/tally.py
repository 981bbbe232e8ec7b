"""The running counts of a call and its rejects, written from the flow's thread and the
senders' event loop under one lock; `report` takes the `Report` out at the end."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from backfill.contract import Reject
from backfill.runfiles.report import Report

EXAMPLES = 3  # reject examples kept per reason
COUNTS = ("rows_read", "rows_skipped", "rows_rejected", "operations_packed",
          "operations_delivered", "operations_rejected", "requests", "retries", "batches",
          "bytes_packed", "bytes_sent", "rows_new", "rows_changed", "rows_unchanged",
          "operations_mirrored", "events_recent", "events_future", "events_untimed")


class RejectSink(Protocol):
    """Where rejects go: the rejects file (`runfiles.rejects.RejectsWriter`), or a list in tests."""

    def write(self, reject: Reject) -> None: ...

    def flush(self) -> None: ...


class Tally:
    """Counters, operations by type, rejects by stage and reason, warnings; the rejects file."""

    def __init__(self, rejects: RejectSink | None = None,
                 on_reject: Callable[[Reject], object] | None = None):
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTS, 0)
        self._by_type: Counter = Counter()
        self._by_stage: Counter = Counter()
        self._reasons: dict[tuple[str, str], list] = {}
        self._warnings: list[str] = []
        self._notes: list[str] = []
        self._rejects = rejects
        self._on_reject = on_reject  # a caller's: each reject as it happens, beside the file

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                self._counts[name] += n

    def get(self, name: str) -> int:
        return self._counts[name]

    def operations(self, by_type: Counter) -> None:
        with self._lock:
            self._by_type.update(by_type)

    def warn(self, *texts: str) -> None:
        with self._lock:
            self._warnings.extend(texts)

    def note(self, *texts: str) -> None:
        """Not a problem: where things went (a finished run's checkpoint and rejects kept)."""
        with self._lock:
            self._notes.extend(texts)

    def reject(self, reject: Reject) -> None:
        """Write a reject to the file and count it: a row (stages read, mapping, limits) or an
        operation (stage api)."""
        if self._rejects is not None:
            self._rejects.write(reject)
        if self._on_reject is not None:
            self._on_reject(reject)
        with self._lock:
            if reject.stage != "api":
                self._counts["rows_rejected"] += 1
            self._by_stage[reject.stage] += 1
            key = (reject.stage, reject.kind or reject.reason)
            entry = self._reasons.setdefault(key, [0, []])
            entry[0] += 1
            if len(entry[1]) < EXAMPLES:
                entry[1].append({"input": reject.input, "row": reject.row, "line": reject.line,
                                 "reason": reject.reason})

    def flush(self) -> None:
        """The rejects written so far are on disk (before a checkpoint counts their rows)."""
        if self._rejects is not None:
            self._rejects.flush()

    def carried(self) -> dict[str, Any]:
        """What a checkpoint keeps so that the next run's counts continue these."""
        with self._lock:
            return {**{k: self._counts[k] for k in CARRIED},
                    "rejects_by_stage": dict(self._by_stage)}

    def carry(self, counters: dict[str, Any]) -> None:
        """Continue the counts a checkpoint kept (a resume)."""
        with self._lock:
            for key in CARRIED:
                self._counts[key] = int(counters.get(key, 0))
            self._by_stage.update(counters.get("rejects_by_stage", {}))

    def report(self, **fields: Any) -> Report:
        """The frozen report; `rejects_file` only when a reject was counted (by this call or the
        runs it resumes): a report never names a rejects file that was not written."""
        if not (self._counts.get("rows_rejected") or self._counts.get("operations_rejected")):
            fields = {**fields, "rejects_file": None}
        with self._lock:
            items = sorted(self._reasons.items(), key=lambda kv: -kv[1][0])
            summary = [{"stage": stage, "reason": kind, "count": count,
                        "examples": list(examples)}
                       for (stage, kind), (count, examples) in items]
            return Report(**{**fields, **self._counts, "operations_by_type": dict(self._by_type),
                             "rejects_by_stage": dict(self._by_stage), "rejects": summary,
                             "warnings": [*fields.get("warnings", []), *self._warnings],
                             "notes": list(self._notes)})


# What continues from run to run: what reached the API, and what was rejected. Packing figures
# (operations, batches, bytes packed, by type) describe the run that printed them.
CARRIED = ("rows_rejected", "operations_delivered", "operations_rejected", "requests",
           "retries", "bytes_sent")
