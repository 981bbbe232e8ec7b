"""`run --state`: one night of an incremental run, from loading the state to writing it back.

The state is loaded (a journal a stopped run left folded in first) and compared in memory
(`nightly.diff`); the operations the API acknowledges are journaled before the checkpoint counts
their rows (`statefile.Journal`); a finished run writes the new state atomically. With
`--missing delete|suppress`, a first pass reads the input for its keys only, so that the circuit
breaker (`--max-deletes`) can stop the run before anything at all is sent.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import polars as pl

from backfill import storage
from backfill.contract import OP, ROW, Batch
from backfill.errors import UsageError
from backfill.mapping.config import Mapping
from backfill.nightly import relations, statefile
from backfill.nightly.diff import Differ, mirror_frame
from backfill.nightly.keys import KEY, KH, REL, canary, owner_keys
from backfill.nightly.workingcopy import WorkingCopy
from backfill.options import Nightly
from backfill.runfiles.checkpoint import current
from backfill.runfiles.tally import Tally

MISSING = ("ignore", "delete", "suppress")


def deletes_allowed(limit: str, keys: int) -> int:
    """`--max-deletes`: a count, or a percentage of the state's keys (rounded up)."""
    text = limit.strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1])
            if not 0 <= share <= 100:
                raise ValueError
            return math.ceil(keys * share / 100)
        count = int(text)
        if count < 0:
            raise ValueError
        return count
    except ValueError:
        raise UsageError(f"--max-deletes {limit!r}: give a count (500) or a share of the "
                         "state's keys (2%)") from None


class NightlyRun:
    """What `flow.batches` and `runner` ask of an incremental run (`flow.Incremental`)."""

    def __init__(self, opts: Nightly, mapping: Mapping, digest: str, tally: Tally,
                 say: Callable[[str], object] | None = None, resumed: bool = False):
        if opts.missing not in MISSING:
            raise UsageError(f"--missing {opts.missing!r}: use one of {', '.join(MISSING)}")
        self.opts, self.tally, self.digest = opts, tally, digest
        self.owner = mapping.operations[0].type  # whose keys `--missing` undoes (`keys.owned`)
        self.related: list[pl.DataFrame] = []  # (KH, REL) of tonight's relationships (`noted`)
        self.gone = pl.Series(KH, [], pl.UInt64)  # keys missing from the census's whole read
        self.copy, self.path = _working_copy(opts.path)
        first = statefile.StateInfo(mapping=digest, canary=canary())
        state, self.info = self._load(first, digest, mapping.text, resumed)
        why = None
        if self.info is not None:
            if self.info.mapping != digest:
                why = f"the mapping changed since {opts.path} was written"
            elif self.info.canary != canary():
                why = f"{opts.path} was written by another version of polars (other hashes)"
        # a changed mapping may name the same people by other keys, other hashes match nothing:
        # last night's keys are not compared, not undone, and not kept (tonight's are)
        self.rebuild = why is not None or opts.full
        if why:  # said before the run starts: it may take hours
            state = pl.DataFrame(schema=statefile.HASHES)
            text = (f"{why}: every row is sent again, the state is rebuilt from tonight's "
                    f"rows ({self.info.keys:,} keys were held)"
                    + (f", and --missing {opts.missing} waits for the next night"
                       if opts.missing != "ignore" else ""))
            tally.warn(text)
            if say is not None:
                say(text)
        self.comparable = why is None
        events = None
        if opts.event_watermark:
            events = [i for i, op in enumerate(mapping.operations) if op.is_event]
            if not events:
                raise UsageError("--event-watermark: the mapping has no events")
            if any(mapping.operations[i].timestamp is None for i in events):
                tally.warn("--event-watermark: events without a timestamp in the mapping are "
                           "sent every night")
        self.watermark = self.info.event_watermark if self.info is not None else None
        # the ids of `dedupe_id: auto` events (an event's key holds its id): a state keeps
        # those it began with, even when rebuilt (`resume.keep_event_ids`)
        self.event_ids = self.info.event_ids if self.info is not None else "auto"
        self.differ = Differ(state, opts.full, events, self.watermark)
        self.census = False
        self.undo: pl.DataFrame | None = None  # the keys to undo, decided by the census
        self.missing_count: int | None = None
        self.journal = statefile.Journal(self.path, self.copy and self.copy.journaled)
        self._lock = threading.Lock()

    def _load(self, first: statefile.StateInfo, digest: str, text: str, resumed: bool
              ) -> tuple[pl.DataFrame, statefile.StateInfo | None]:
        """The state and its info (a fingerprint 0.3 kept of the mapping's text read as this
        mapping's, `checkpoint.current`). A journal a stopped run left is folded in first,
        except when this run resumes a rebuild (`--full`, a changed mapping): that journal is
        the rebuild's own first part, and stays tonight's, so that the rebuilt state keeps
        every key it acknowledged (folded into the state it replaces, they would be dropped)."""
        held = statefile.read_info(self.path)
        if resumed and held is not None and (self.opts.full or held.canary != canary()
                                             or current(held.mapping, text) != digest):
            state, info = statefile.hashes(self.path), held
        else:
            if statefile.fold_journal(self.path, first) and self.copy is not None:
                self.copy.push()  # tonight's journal files must not replace a stopped run's
            state, info = statefile.read_state(self.path, first)
        if info is not None:
            info.mapping = current(info.mapping, text)
        return state, info

    @property
    def mirrors(self) -> bool:
        return self.opts.missing != "ignore" and self.comparable

    def check_deletes(self, rows_read: int, read_rejects: int) -> int:
        """After the census pass: how many operations `--missing` would send; exit 2 above
        `--max-deletes`; none at all for an empty input or one with unreadable rows."""
        self.gone = self._missing_hashes()  # read whole: the rows whose relationships all went
        would = self._undo_keys(self.gone)
        self.missing_count = len(self.gone)
        if not would.height:
            return 0
        if rows_read == 0 or read_rejects:
            why = "the input has no rows" if rows_read == 0 else \
                f"{read_rejects:,} rows could not be read, so their keys are unknown"
            self.tally.warn(f"--missing {self.opts.missing}: {would.height:,} keys are gone from "
                            f"the input, but {why}: nothing is deleted tonight")
            return 0
        allowed = deletes_allowed(self.opts.max_deletes, len(self.differ))
        if would.height > allowed:
            share = 100 * would.height / max(len(self.differ), 1)
            raise UsageError(
                f"--missing {self.opts.missing} would {self.opts.missing} {would.height:,} "
                f"keys ({share:.1f}% of the {len(self.differ):,} in {self.opts.path}), above "
                f"--max-deletes {self.opts.max_deletes} ({allowed:,}). Nothing was sent. If "
                f"the input is complete and this is intended, run again with --max-deletes "
                f"{would.height} (or a larger share)")
        self.undo = would  # from the census, which read every row (a resume skips some after)
        return would.height

    def _missing_hashes(self) -> pl.Series:
        positions = self.differ.missing()
        if not len(positions) or self.info is None:
            return pl.Series(KH, [], pl.UInt64)
        return statefile.hashes(self.path, (KH,)).get_column(KH).gather(positions)

    def _undo_keys(self, missing: pl.Series) -> pl.DataFrame:
        """Of the missing keys, those with an undo operation (`KH`, `KEY`, from the state
        file)."""
        if not len(missing):
            return pl.DataFrame(schema={KH: pl.UInt64, KEY: pl.String})
        found = owner_keys(statefile.key_texts(self.path, missing), self.owner)
        undo = mirror_frame(found, self.opts.missing)
        return found.join(undo.select(KH), on=KH, how="semi")

    def noted(self, sent: pl.DataFrame) -> None:
        """Tonight's operations to send that hold relationships (the flow's), whose keys'
        earlier relationships may have gone (`relations.removals`)."""
        if self.mirrors and not self.census:
            held = sent.filter(pl.col(REL).is_not_null()).select(KH, REL)
            if held.height:
                self.related.append(held)

    def mirrored(self) -> pl.DataFrame | None:
        if self.census or not self.mirrors:
            return None
        parts = [mirror_frame(self.undo, self.opts.missing)] if self.undo is not None else []
        moved = self._moves()
        if moved.height:
            parts.append(moved)
        if not parts:
            return None
        ops = pl.concat(parts).with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias(ROW))
        json = ops.get_column("json")
        self.tally.operations(Counter(zip(json.str.extract(r'^\{"type":"(\w+)"', 1).to_list(),
                                          json.str.extract(r'"action":"(\w+)"', 1).to_list(),
                                          strict=True)))
        return ops

    def _moves(self) -> pl.DataFrame:
        """`delete_relationships` for what keys held before and hold no longer: tonight's
        operations (noted, and journaled before a resume) against those last delivered, and
        the keys gone from the census's read that no other undo covers."""
        journal = statefile.read_journal(self.path)
        tonight = [*self.related, *([journal.filter(pl.col(REL).is_not_null() & (
            pl.col(OP) != statefile.MIRRORED_OP)).select(KH, REL)] if journal is not None else [])]
        undone = self.undo.get_column(KH) if self.undo is not None else None
        return relations.removal_frame(statefile.keys_dir(self.path), tonight,
                                       statefile.hashes(self.path, (KH,)).get_column(KH)
                                       if self.info is not None else None, self.gone, undone,
                                       statefile.MIRRORED_OP)

    def keys_missing(self, complete: bool) -> int | None:
        """Keys of the state the input lacks: known from a census, or from a run that read
        every row itself."""
        if self.missing_count is not None:
            return self.missing_count
        return len(self.differ.missing()) if complete and self.comparable else None

    def accepted(self, batch: Batch, refused: set[int]) -> None:
        """The API took this body: journal its operations but the refused ones."""
        if batch.keys is None:
            return
        kept = pl.col(KH).is_not_null()  # not the events of --event-watermark
        if refused:
            kept &= ~pl.int_range(pl.len()).is_in(sorted(refused))
        keys = batch.keys.filter(kept)
        with self._lock:
            self.journal.add(keys)

    def flush(self) -> None:
        with self._lock:
            self.journal.flush()

    def commit(self, counts: dict[str, int]) -> int:
        """A finished run: the state becomes last night's plus tonight's acknowledgements."""
        self.flush()
        latest = [t for t in (self.watermark, self.differ.latest_event) if t is not None]
        self.differ = None  # type: ignore[assignment]  # its 10M-key arrays, before the new ones
        entries = statefile.read_journal(self.path)
        if entries is None:
            entries = pl.DataFrame(schema=statefile.JOURNAL_SCHEMA)
        old = statefile.hashes(self.path) if self.info is not None and not self.rebuild \
            else pl.DataFrame(schema=statefile.HASHES)
        info = statefile.StateInfo(mapping=self.digest, canary=canary(), last_run=counts,
                               event_watermark=max(latest) if latest else None,
                               event_ids=self.event_ids)
        keys = statefile.write(self.path, statefile.apply(old, entries), entries, info)
        statefile.discard_journal(self.path)
        if self.copy is not None:
            self.copy.push()
            self.copy.close()
        return keys


def _working_copy(path: str) -> tuple[WorkingCopy | None, str | Path]:
    """The state's path to work on, checked writable before anything is sent: itself, or
    for a URL a local copy of the bucket's state (`workingcopy.py`)."""
    if not storage.is_url(path):
        statefile.check_writable(path)
        return None, path
    copy = WorkingCopy(path)
    copy.check_writable()
    copy.pull()
    return copy, copy.path
