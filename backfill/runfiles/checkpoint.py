"""The checkpoint: what is done, per input, and the fingerprints that make a resume safe.

`RowSet` is pure: a watermark (every row below it is done) and the done ranges above it, so
batches that finish out of order are recorded exactly. `save` writes atomically (temp file in the
same folder, fsync, os.replace): a crash leaves the old or the new checkpoint, never a torn one.
Credentials are never part of a checkpoint.
"""

from __future__ import annotations

import hashlib
import os
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from backfill import storage
from backfill.errors import UsageError
from backfill.runfiles.atomic import write_bytes

VERSION = 1


class RowSet:
    """Rows done: all below `watermark`, plus disjoint inclusive ranges above it."""

    def __init__(self, watermark: int = 0, ranges: list[tuple[int, int]] | None = None):
        self.watermark = watermark
        self.ranges: list[tuple[int, int]] = []
        for a, b in ranges or []:
            self.add(a, b)

    def add(self, first: int, last: int) -> None:
        """Mark [first, last] done: merged with the ranges it touches (found by bisection: a
        night of unchanged rows settles many small ranges while the changed ones are in
        flight, and a scan of every range for each would cost as much as the run)."""
        if last < first or last < self.watermark:
            return
        first = max(first, self.watermark)
        ranges = self.ranges
        i = bisect_left(ranges, (first, first))
        if i and ranges[i - 1][1] + 1 >= first:
            i -= 1  # the range before touches this one
        j = bisect_right(ranges, (last + 1, float("inf")))  # ranges starting by last + 1
        if i < j:
            first, last = min(first, ranges[i][0]), max(last, ranges[j - 1][1])
        ranges[i:j] = [(first, last)]
        if ranges[0][0] <= self.watermark:
            self.watermark = max(self.watermark, ranges.pop(0)[1] + 1)

    def __contains__(self, row: int) -> bool:
        if row < self.watermark:
            return True
        i = bisect_right(self.ranges, (row, float("inf"))) - 1
        return i >= 0 and self.ranges[i][0] <= row <= self.ranges[i][1]

    def count(self) -> int:
        return self.watermark + sum(b - a + 1 for a, b in self.ranges)

    def to_json(self) -> dict[str, Any]:
        return {"watermark": self.watermark, "ranges": [list(r) for r in self.ranges]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RowSet:
        return cls(int(data.get("watermark", 0)), [tuple(r) for r in data.get("ranges", [])])


def mapping_hash(text: str) -> str:
    """The fingerprint of what a mapping means, not of how it is written: its YAML read, keys
    sorted, as JSON; comments, blank lines, key order and quoting do not change it, any value
    does. (A YAML that does not read falls back to its text's.)"""
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe", pure=True).load(text)
        canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
                                 default=str)
    except Exception:  # noqa: BLE001 - any YAML or value it cannot say as JSON
        return text_hash(text)
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def text_hash(text: str) -> str:
    """The fingerprint of a mapping's text, as backfill 0.3 and earlier kept it: a checkpoint or
    a state that holds it is of this mapping too (`current`)."""
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def current(stored: str, text: str) -> str:
    """`stored`, or this mapping's fingerprint when `stored` is the older fingerprint of the
    same text: a job that upgrades is not a changed mapping."""
    return mapping_hash(text) if stored == text_hash(text) else stored


@dataclass
class Checkpoint:
    mapping: str
    inputs: list[dict[str, Any]]  # fingerprints, in input order
    done: list[RowSet] = field(default_factory=list)
    counters: dict[str, Any] = field(default_factory=dict)
    resume: dict[int, Any] = field(default_factory=dict)  # input -> where a keyed source resumes
    finished: bool = False
    # what `dedupe_id: auto` means for this run's events: a resume keeps the ids the run began
    # with (a checkpoint without it was written by backfill 0.2, whose ids are `auto-v1`)
    event_ids: str = "auto"
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    updated: str = ""

    def __post_init__(self) -> None:
        while len(self.done) < len(self.inputs):
            self.done.append(RowSet())

    def to_bytes(self, stamp: bool = True) -> bytes:
        """The checkpoint's JSON; `stamp`: `updated` is now (a save), else as loaded (status)."""
        updated = datetime.now(UTC).isoformat(timespec="seconds") if stamp else self.updated
        return orjson.dumps({
            "version": VERSION, "mapping": self.mapping, "finished": self.finished,
            "event_ids": self.event_ids,
            "started": self.started, "updated": updated,
            "inputs": [{"fingerprint": fp, "done": d.to_json(),
                        **({"resume": self.resume[i]} if i in self.resume else {})}
                       for i, (fp, d) in enumerate(zip(self.inputs, self.done, strict=True))],
            "counters": self.counters,
        }, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        obj = orjson.loads(data)
        if obj.get("version") != VERSION:
            raise ValueError(f"unknown checkpoint version {obj.get('version')}")
        return cls(
            mapping=obj["mapping"], inputs=[i["fingerprint"] for i in obj["inputs"]],
            done=[RowSet.from_json(i["done"]) for i in obj["inputs"]],
            resume={n: i["resume"] for n, i in enumerate(obj["inputs"]) if "resume" in i},
            counters=obj.get("counters", {}), finished=bool(obj.get("finished")),
            event_ids=obj.get("event_ids", "auto-v1"),
            started=obj.get("started", ""), updated=obj.get("updated", ""),
        )

    def differences(self, mapping: str, inputs: list[dict[str, Any]]) -> list[str]:
        """What changed since this checkpoint was written, in words."""
        changes = []
        if mapping != self.mapping:
            changes.append("the mapping file changed")
        old = {fp["path"]: fp for fp in self.inputs}
        new = {fp["path"]: fp for fp in inputs}
        for path in old.keys() - new.keys():
            changes.append(f"input {path} is no longer among the inputs")
        for path in new.keys() - old.keys():
            changes.append(f"input {path} is new")
        for path in old.keys() & new.keys():
            for key in ("size", "rows", "mtime", "sample"):
                if old[path].get(key) != new[path].get(key):
                    what = {"size": "its size", "rows": "its number of rows",
                            "mtime": "its modification time", "sample": "its content"}[key]
                    changes.append(f"input {path} changed ({what})")
                    break
        if [fp["path"] for fp in self.inputs] != [fp["path"] for fp in inputs] and not changes:
            changes.append("the inputs are in a different order")
        return changes


def save(path: str | Path, checkpoint: Checkpoint) -> None:
    """Atomic write (`runfiles.atomic`): a file, or an object in object storage."""
    write_bytes(path, checkpoint.to_bytes())


def read_checkpoint(path: str | Path, fix: str = "move it away or pass --restart to start over"
         ) -> Checkpoint | None:
    """The checkpoint at `path`, None if there is none; `fix`: what the error says to do."""
    if storage.is_url(path):
        data = storage.read(str(path))
    else:
        data = Path(path).read_bytes() if Path(path).exists() else None
    return None if data is None else parse(data, path, fix)


def parse(data: bytes, path: str | Path, fix: str) -> Checkpoint:
    """The checkpoint in `data`, read from `path`; `fix`: what the error says to do."""
    try:
        return Checkpoint.from_bytes(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{path}: not a readable checkpoint ({exc}); {fix}") from None


def earlier_event_ids(path: str | Path | None) -> str:
    """The event ids of the run recorded at `path` (a job keeps its events' ids from run to
    run); "auto" when none is, or when the file cannot be read."""
    try:
        earlier = read_checkpoint(path) if path is not None else None
    except (UsageError, OSError):
        return "auto"
    return earlier.event_ids if earlier is not None else "auto"


def archive(path: str | Path, checkpoint: Checkpoint) -> str:
    """Keep a finished run's file (its checkpoint, its rejects) beside it, named with the run's
    date: `people.csv.checkpoint.2026-11-30T020000.json`."""
    text = str(path)
    folder, _, name = text.rpartition("/") if storage.is_url(text) else (
        str(Path(text).parent), "/", Path(text).name)
    stem, dot, suffix = name.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot else (name, "")
    stamp = (checkpoint.updated or checkpoint.started or "done").replace(":", "")[:17]
    exists = storage.exists if storage.is_url(text) else os.path.exists
    target, n = f"{folder}/{stem}.{stamp}{suffix}", 2
    while exists(target):
        target, n = f"{folder}/{stem}.{stamp}-{n}{suffix}", n + 1
    if storage.is_url(text):
        storage.rename(text, target)
    else:
        os.replace(text, target)
    return target


def describe(checkpoint: Checkpoint, path: str) -> str:
    """`backfill status`: what a checkpoint holds, in words."""
    c = checkpoint.counters
    lines = [f"{path}: {'finished' if checkpoint.finished else 'unfinished'} run, started "
             f"{checkpoint.started}, last saved {checkpoint.updated}"]
    for fp, done in zip(checkpoint.inputs, checkpoint.done, strict=True):
        extra = f", {len(done.ranges)} done ranges above it" if done.ranges else ""
        size = f"{fp['size']:,} bytes" if "size" in fp else \
            f"{fp['rows']:,} rows" if "rows" in fp else "stdin"
        lines.append(f"  {fp['path']} ({size}): {done.count():,} rows done; every row below "
                     f"{done.watermark:,} done{extra}")
    lines.append(f"  delivered {c.get('operations_delivered', 0):,} operations in "
                 f"{c.get('requests', 0):,} requests ({c.get('retries', 0):,} retries)")
    lines.append(f"  rejected: {c.get('rows_rejected', 0):,} rows, "
                 f"{c.get('operations_rejected', 0):,} operations refused by the API")
    lines.append(f"  mapping fingerprint {checkpoint.mapping}")
    lines += event_ids_said(checkpoint.event_ids, "the runs at this checkpoint keep them")
    return "\n".join(lines)


def event_ids_said(scheme: str, kept: str) -> list[str]:
    """`status`'s line on a job's event ids, when they are not this version's (`auto`)."""
    if scheme == "auto":
        return []
    return [f"  dedupe_id: auto events get BLAKE2b ids ({scheme}), as backfill 0.2 gave them: "
            f"{kept}"]
