"""Where a run starts: the checkpoint it continues or begins (a changed input or mapping
refused, a finished run's files archived), and the event-id scheme its earlier runs used. Kept
apart from `runner` (the delivery itself)."""

from __future__ import annotations

from backfill import storage
from backfill.errors import UsageError
from backfill.flow import Plan
from backfill.mapping.model import with_id_scheme
from backfill.nightly.night import NightlyRun
from backfill.runfiles.archives import KEEP, prune
from backfill.runfiles.checkpoint import (
    Checkpoint,
    RowSet,
    archive,
    current,
    earlier_event_ids,
    mapping_hash,
    read_checkpoint,
)
from backfill.runfiles.outputs import regular
from backfill.runfiles.tally import Tally


def prepare_checkpoint(plan: Plan, path: str | None, rejects: str | None, restart: bool,
                       keep: int = KEEP) -> tuple[Checkpoint, bool, list[str]]:
    """The checkpoint at `path` this run continues (resumed=True) or starts, and notes on where
    a finished run's files were kept (the `keep` newest archives of each); refuses a changed
    input, and any resume of stdin."""
    fps = [source.fingerprint() for source in plan.sources]
    digest = mapping_hash(plan.mapping.text)
    existing = None if restart or path is None else read_checkpoint(path)
    if existing is not None and existing.finished:
        assert path is not None
        kept = archive(path, existing)
        notes = [f"{path} was from a finished run: kept as {kept}; this is a new run"]
        removed = prune(path, keep)
        if rejects and (storage.exists(rejects) if storage.is_url(rejects)
                        else regular(rejects)):  # never /dev/null or a link
            notes.append(f"its rejects {rejects}: kept as "
                         f"{archive(rejects, existing)}")
            removed += prune(rejects, keep)
        if removed:
            notes.append(f"{len(removed)} older {'archive' if len(removed) == 1 else 'archives'}"
                         f" removed (--keep {keep}: the newest {keep} of each file are kept)")
        return Checkpoint(digest, fps, event_ids=existing.event_ids), False, notes
    if existing is None:  # --restart keeps the ids of what was sent before too
        return Checkpoint(digest, fps, event_ids=earlier_event_ids(path)), False, []
    existing.mapping = current(existing.mapping, plan.mapping.text)
    changes = existing.differences(digest, fps)
    if any(fp.get("path") == "-" for fp in existing.inputs):
        raise UsageError(
            f"{path} holds an unfinished run that read standard input, which cannot "
            "be told apart from other data piped in: resuming could skip rows it never sent. "
            "Pass --restart to send everything piped in this time (events keep their ids, so "
            "the API drops the repeats), or save the data to a file to make runs resumable")
    if changes:
        raise UsageError(
            f"{path} holds an unfinished run, but since then "
            + "; ".join(changes) + ". Resuming would skip or repeat the wrong rows. Put the "
            "original inputs and mapping back to resume, or pass --restart to start over "
            "(rows sent before are sent again; events keep their ids, so the API drops "
            "the repeats).")
    for i, source in enumerate(plan.sources):
        if source.keyed:  # after its last key done, or over when it has none yet
            existing.done[i] = RowSet(source.resume_from(existing.resume[i])) \
                if i in existing.resume else RowSet()
    return existing, True, []


def keep_event_ids(plan: Plan, checkpoint: Checkpoint, nightly: NightlyRun | None,
                   tally: Tally) -> None:
    """A job whose checkpoint or state records runs of backfill 0.2 keeps 0.2's event ids
    (`dedupe_id: auto-v1`): events sent again (a resume, a new run of the same export) and
    events compared with the state's by their bytes must have the ids they were sent with,
    or the API would keep both copies."""
    by_run = checkpoint.event_ids != "auto"
    scheme = checkpoint.event_ids if by_run else nightly.event_ids if nightly else "auto"
    if scheme == "auto" or not any(op.dedupe_id == "auto" for op in plan.mapping.operations):
        return
    plan.mapping = with_id_scheme(plan.mapping, scheme)
    checkpoint.event_ids = scheme
    if nightly is not None:
        nightly.event_ids = scheme
    tally.note(f"dedupe_id: auto events keep backfill 0.2's ids ({scheme}), as in the earlier "
               f"runs its {'checkpoint' if by_run else 'state'} records, so the API drops the "
               "repeats of what they sent (docs/mapping.md)")
