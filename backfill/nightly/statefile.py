"""The nightly state on disk: what was delivered, per key, and the journal of tonight's acks.

- `PATH`, a Parquet file: one row a key, `KH` and `CH` (two 64-bit hashes), sorted by `KH`,
  uncompressed (hashes do not compress; written and read in a fraction of a second for 10M
  keys); its footer holds `StateInfo` (the mapping's fingerprint, the hash canary, the last
  run's counts). Replaced atomically at the end of a finished run, never written in place.
- `PATH.keys/`, Parquet segments of `KEY`: the text of each key `--missing` can undo, appended
  once a night (re-writing 10M key texts would cost more than reading the export), in data order
  (10M people keys: 10 MB). A key may be in several segments; they are merged when many.
- `PATH.journal/`: the operations the API acknowledged during a run, one small Arrow file a
  save, each written before the checkpoint that counts their rows. A run that stops keeps it;
  the next run folds it into the state before anything else, so an acknowledged operation is
  never sent again as "changed" and an unacknowledged one is never recorded.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from backfill.contract import INPUT, OP, ROW
from backfill.errors import UsageError
from backfill.nightly import relations
from backfill.nightly.keys import CH, KEY, KH, REL, key_hash
from backfill.runfiles import atomic
from backfill.runfiles.atomic import atomic_write
from backfill.runfiles.checkpoint import event_ids_said

VERSION = 2
META = "backfill_state"
HASHES = {KH: pl.UInt64, CH: pl.UInt64}
# A journal entry: a key delivered (or, with OP == MIRRORED_OP, undone) at (INPUT, ROW, OP).
JOURNAL_SCHEMA = {INPUT: pl.Int32, ROW: pl.Int64, OP: pl.Int32, **HASHES, KEY: pl.String,
                  REL: pl.String}
SEGMENTS = "[0-9]*.parquet"  # key texts; `relations.py` keeps its own beside them
MIRRORED_OP = -1
MAX_SEGMENTS = 16


@dataclass
class StateInfo:
    mapping: str = ""  # the fingerprint of the mapping that made these operations
    canary: int = 0  # keys.canary() when written
    keys: int = 0
    updated: str = ""
    last_run: dict[str, Any] = field(default_factory=dict)  # the report's counts
    version: int = VERSION
    event_watermark: int | None = None  # --event-watermark: the latest event time sent
    event_ids: str = "auto"  # what `dedupe_id: auto` made (a state of backfill 0.2: auto-v1)


def check_writable(path: str | os.PathLike) -> None:
    """Before anything is sent: the state's folder takes new files (a read-only folder would
    otherwise fail at the first journal save, with operations delivered and not recorded)."""
    atomic.check_writable(path, "--state")


def journal_dir(path: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(path)}.journal")


def keys_dir(path: str | os.PathLike) -> Path:
    return Path(f"{os.fspath(path)}.keys")


def read_info(path: str | os.PathLike) -> StateInfo | None:
    """The state's footer, without its keys; None when there is no state yet."""
    if not Path(path).exists():
        return None
    try:
        info = StateInfo(**{"event_ids": "auto-v1",  # written by 0.2, which did not say
                            **orjson.loads(pl.read_parquet_metadata(path)[META])})
        if info.version != VERSION:
            raise ValueError(f"version {info.version}, this program reads {VERSION}")
        return info
    except Exception as exc:  # noqa: BLE001 - any unreadable file says the same
        raise UsageError(f"{path}: not a readable backfill state ({exc}); move it away, or pass "
                         "--full to send everything and write a new one") from None


def read_state(path: str | os.PathLike, first: StateInfo) -> tuple[pl.DataFrame, StateInfo | None]:
    """The state's hashes, sorted by key hash, and its info; a journal left by a stopped run is
    folded in first (`first`: the info of a state that did not exist yet: acknowledgements are
    facts, whatever mapping made them)."""
    fold_journal(path, first)
    info = read_info(path)
    return (hashes(path) if info is not None else pl.DataFrame(schema=HASHES)), info


def hashes(path: str | os.PathLike, columns: tuple[str, ...] = (KH, CH)) -> pl.DataFrame:
    return pl.read_parquet(path, columns=list(columns)).rechunk()  # one row group: no copy


def fold_journal(path: str | os.PathLike, info: StateInfo) -> bool:
    """Fold the journal into the state (atomically), then remove it; False if none."""
    entries = read_journal(path)
    if entries is None:
        return False
    old = hashes(path) if Path(path).exists() else pl.DataFrame(schema=HASHES)
    write(path, apply(old, entries), entries, read_info(path) or info)
    discard_journal(path)
    return True


def discard_journal(path: str | os.PathLike) -> None:
    """After its entries are in the state (a crash before this folds them twice: the same
    result)."""
    shutil.rmtree(journal_dir(path), ignore_errors=True)


def read_journal(path: str | os.PathLike) -> pl.DataFrame | None:
    folder = journal_dir(path)
    files = sorted(folder.glob("*.arrow")) if folder.is_dir() else []
    if not files:
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        return None
    frames = [pl.read_ipc(f.read_bytes()) for f in files]
    return pl.concat([f if REL in f.columns else f.with_columns(  # a journal of 0.3.0
        pl.lit(None, dtype=pl.String).alias(REL)) for f in frames])


def apply(old: pl.DataFrame, entries: pl.DataFrame) -> pl.DataFrame:
    """The hashes with journal entries applied: the last entry of a key in data order wins; an
    undo entry removes its key. Sorted by `KH`, as `old` is. Pure but for `old`'s `CH` column,
    updated in place (a copy of 10M hashes is 80 MB more at the end of a run)."""
    last = entries.sort(INPUT, ROW, OP).unique(KH, keep="last", maintain_order=True)
    held = old.get_column(KH)
    if not len(held):
        return last.filter(pl.col(OP) != MIRRORED_OP).select(*HASHES).sort(KH)
    at = held.search_sorted(last.get_column(KH), side="left").cast(pl.Int64)
    last = last.with_columns(at.alias("__at")).with_columns(
        (pl.lit(held).gather(pl.col("__at").clip(0, len(held) - 1)) == pl.col(KH))
        .alias("__found"))
    undo = pl.col(OP) == MIRRORED_OP
    update = last.filter(pl.col("__found") & ~undo)
    ch = old.get_column(CH)
    ch.scatter(update.get_column("__at"), update.get_column(CH))
    new = old.with_columns(ch)
    gone = last.filter(pl.col("__found") & undo).get_column("__at")
    if len(gone):
        new = new.filter(~pl.int_range(pl.len(), dtype=pl.Int64).is_in(gone.implode()))
    added = last.filter(~pl.col("__found") & ~undo).select(*HASHES).sort(KH)
    return new.merge_sorted(added, key=KH) if added.height else new


def write(path: str | os.PathLike, new: pl.DataFrame, entries: pl.DataFrame,
          info: StateInfo) -> int:
    """The key texts of `entries` appended, then the hashes replaced: a crash between the two
    leaves texts of keys the state does not hold, which nothing reads."""
    texts = entries.filter(pl.col(KEY).is_not_null() & (pl.col(OP) != MIRRORED_OP)) \
        .select(KEY).unique(maintain_order=True)  # in data order, texts compress tenfold
    folder = keys_dir(path)
    if texts.height:
        folder.mkdir(parents=True, exist_ok=True)
        number = max((int(f.stem) for f in folder.glob(SEGMENTS)), default=0) + 1
        atomic_write(folder / f"{number:08d}.parquet", lambda fh: texts.write_parquet(fh))
    relations.append(folder, entries, MIRRORED_OP)
    info.keys, info.updated = new.height, datetime.now(UTC).isoformat(timespec="seconds")
    meta = {META: orjson.dumps(asdict(info)).decode()}
    atomic_write(path, lambda fh: new.write_parquet(
        fh, compression="uncompressed", statistics=False, metadata=meta,
        row_group_size=max(new.height, 1)))
    segments = sorted(folder.glob(SEGMENTS)) if folder.is_dir() else []
    if len(segments) > MAX_SEGMENTS:
        _merge_segments(segments, new.get_column(KH))
    relations.merge(folder, new.get_column(KH), MAX_SEGMENTS)
    return new.height


def _merge_segments(segments: list[Path], held: pl.Series) -> None:
    """One segment with the texts of the keys the state holds, instead of many."""
    merged = _texts(segments).unique(KEY, maintain_order=True).join(
        pl.LazyFrame({KH: held}), on=KH, how="semi", maintain_order="left").select(KEY).collect()
    atomic_write(segments[0], lambda fh: merged.write_parquet(fh))
    for segment in segments[1:]:
        segment.unlink()


def _texts(segments: list[Path]) -> pl.LazyFrame:
    """The segments' key texts with their hashes (`KH` is not stored: 8 bytes a key that do
    not compress, against about one for the text)."""
    return pl.scan_parquet(segments).select(key_hash(pl.col(KEY)).alias(KH), KEY)


def key_texts(path: str | os.PathLike, wanted: pl.Series) -> pl.DataFrame:
    """The texts of these key hashes (those that have one)."""
    segments = sorted(keys_dir(path).glob(SEGMENTS)) if keys_dir(path).is_dir() else []
    if not segments or not len(wanted):
        return pl.DataFrame(schema={KH: pl.UInt64, KEY: pl.String})
    return _texts(segments).filter(pl.col(KH).is_in(wanted.implode())).unique(KH).collect()


class Journal:
    """Tonight's acknowledged operations: gathered in memory, written at each save."""

    def __init__(self, path: str | os.PathLike,
                 written: Callable[[Path], object] | None = None):
        self.folder = journal_dir(path)
        self._on_written = written  # each file, once on disk (a state in a bucket uploads it)
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
        if self._on_written is not None:
            self._on_written(target)


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
    lines += event_ids_said(info.event_ids, "the state keeps them")
    return "\n".join(lines)
