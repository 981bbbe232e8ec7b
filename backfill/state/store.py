"""The nightly state on disk: what was delivered, per key, and the journal of tonight's acks.

`PATH` is a Parquet file: one row a key (`KH`, `CH`, and `KEY` for the keys `--missing` can
undo), its footer holding `StateInfo` (the mapping's fingerprint, the hash canary, the last run's
counts). It is replaced atomically at the end of a finished run, never written in place.

`PATH.journal/` holds the operations the API acknowledged during a run, one small Arrow file a
save, each written before the checkpoint that counts their rows. A run that stops keeps it; the
next run folds it into the state before anything else, so an acknowledged operation is never
sent again as "changed" and an unacknowledged one is never recorded.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from backfill.contract import INPUT, OP, ROW
from backfill.errors import UsageError
from backfill.state.atomic import atomic_write
from backfill.state.keys import CH, KEY, KH

VERSION = 1
META = "backfill_state"
SCHEMA = {KH: pl.UInt64, CH: pl.UInt64, KEY: pl.String}
# A journal entry: a key delivered (or, with OP == MIRRORED_OP, undone) at (INPUT, ROW, OP).
JOURNAL_SCHEMA = {INPUT: pl.Int32, ROW: pl.Int64, OP: pl.Int32, **SCHEMA}
MIRRORED_OP = -1


@dataclass
class StateInfo:
    mapping: str = ""  # the fingerprint of the mapping that made these operations
    canary: int = 0  # keys.canary() when written
    keys: int = 0
    updated: str = ""
    last_run: dict[str, Any] = field(default_factory=dict)  # the report's counts


def journal_dir(path: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(path)}.journal")


def read_info(path: str | os.PathLike) -> StateInfo | None:
    """The state's footer, without its keys; None when there is no state yet."""
    if not Path(path).exists():
        return None
    try:
        meta = pl.read_parquet_metadata(path)
        return StateInfo(**orjson.loads(meta[META]))
    except Exception as exc:  # noqa: BLE001 - any unreadable file says the same
        raise UsageError(f"{path}: not a readable backfill state ({exc}); move it away, or pass "
                         "--full to send everything and write a new one") from None


def load(path: str | os.PathLike, first: StateInfo) -> tuple[pl.DataFrame, StateInfo | None]:
    """The state's hashes sorted by key hash (no key texts: they stay on disk), and its info;
    a journal left by a stopped run is folded in first (`first`: the info of a state that
    did not exist yet: its acknowledgements are facts, whatever mapping made them)."""
    fold_journal(path, first)
    info = read_info(path)
    if info is None:
        return pl.DataFrame(schema={KH: pl.UInt64, CH: pl.UInt64}), None
    frame = pl.read_parquet(path, columns=[KH, CH]).sort(KH)
    return frame.rechunk(), info


def fold_journal(path: str | os.PathLike, info: StateInfo | None = None) -> bool:
    """Fold the journal into the state file (atomically), then remove it; False if none."""
    entries = read_journal(path)
    if entries is None:
        return False
    write(path, entries, read_info(path) or info or StateInfo())
    discard_journal(path)
    return True


def discard_journal(path: str | os.PathLike) -> None:
    """After its entries are in the state file (a crash before this folds them twice: the
    same result)."""
    shutil.rmtree(journal_dir(path), ignore_errors=True)


def read_journal(path: str | os.PathLike) -> pl.DataFrame | None:
    folder = journal_dir(path)
    files = sorted(folder.glob("*.arrow")) if folder.is_dir() else []
    if not files:
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        return None
    return pl.concat([pl.read_ipc(f.read_bytes()) for f in files])


def write(path: str | os.PathLike, entries: pl.DataFrame, info: StateInfo) -> int:
    """The state with `entries` (journal rows) applied, streamed from the old file to the new
    one: the last entry of a key in data order wins; a mirrored entry removes its key."""
    last = entries.sort(INPUT, ROW, OP).unique(KH, keep="last", maintain_order=True)
    kept = last.filter(pl.col(OP) != MIRRORED_OP).select(*SCHEMA)
    frames, count = [kept.lazy()], kept.height
    if Path(path).exists():
        old = pl.scan_parquet(path).select(*SCHEMA)
        replaced = last.select(KH).lazy()
        count += old.select(pl.len()).collect().item() - old.select(KH).join(
            replaced, on=KH, how="semi").select(pl.len()).collect().item()
        frames.insert(0, old.join(replaced, on=KH, how="anti"))
    info.keys, info.updated = count, datetime.now(UTC).isoformat(timespec="seconds")
    meta = {META: orjson.dumps(asdict(info)).decode()}
    atomic_write(path, lambda fh: pl.concat(frames).sink_parquet(fh, metadata=meta))
    return count


class Journal:
    """Tonight's acknowledged operations: gathered in memory, written at each save."""

    def __init__(self, path: str | os.PathLike):
        self.folder = journal_dir(path)
        self._pending: list[pl.DataFrame] = []
        self._written = len(list(self.folder.glob("*.arrow"))) if self.folder.is_dir() else 0

    def add(self, entries: pl.DataFrame) -> None:
        if entries.height:
            self._pending.append(entries)

    def flush(self) -> None:
        """Every entry gathered so far on disk (before the checkpoint counts its rows)."""
        if not self._pending:
            return
        frame, self._pending = pl.concat(self._pending), []
        self.folder.mkdir(parents=True, exist_ok=True)
        self._written += 1
        target = self.folder / f"{self._written:08d}.arrow"
        atomic_write(target, lambda fh: frame.write_ipc(fh))


def is_state(path: str | os.PathLike) -> bool:
    """A Parquet file (a state) rather than a JSON checkpoint."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PAR1"
    except OSError:
        return False


def describe(info: StateInfo, path: str | os.PathLike) -> str:
    """`backfill status`: what a state holds, in words."""
    run = info.last_run
    lines = [f"{path}: nightly state of {info.keys:,} keys, last written {info.updated}"]
    if run:
        lines.append(f"  last run: {run.get('rows_read', 0):,} rows read; "
                     f"{run.get('rows_new', 0):,} new, {run.get('rows_changed', 0):,} changed, "
                     f"{run.get('rows_unchanged', 0):,} unchanged, "
                     f"{run.get('rows_rejected', 0):,} rejected")
        lines.append(f"  delivered {run.get('operations_delivered', 0):,} operations, "
                     f"{run.get('operations_mirrored', 0):,} of them undoing missing keys")
    lines.append(f"  mapping fingerprint {info.mapping}")
    return "\n".join(lines)
