"""How many dated archives of a finished run's files are kept (`--keep N`): a nightly job
archives its checkpoint and rejects each night (`checkpoint.archive`), and without a limit
they pile up beside the input. Local files only; archives in object storage are left alone."""

from __future__ import annotations

import re
from pathlib import Path

from backfill import storage
from backfill.errors import UsageError

KEEP = 7  # archives of each file: a week of nightly runs


def checked_keep(keep: object) -> int:
    """`keep` as given by a caller: a whole number, 0 or more."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise UsageError(f"keep={keep!r}: give a whole number of at least 0")
    return keep


def prune(path: str, keep: int) -> list[str]:
    """Remove all but the `keep` newest dated archives of the file at `path` (its checkpoint
    or rejects); the paths removed. Only names `archive` makes are touched, never a link."""
    if storage.is_url(path):
        return []
    target = Path(path)
    name = target.name
    stem, dot, suffix = name.rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot else (name, "")
    dated = re.compile(re.escape(stem) + r"\.(\d{4}-\d\d-\d\dT\d{6})(?:-(\d+))?"
                       + re.escape(suffix) + "$")
    found = []
    for other in target.parent.glob(f"{stem}.*{suffix}"):
        match = dated.match(other.name)
        if match and other.is_file() and not other.is_symlink():
            found.append(((match.group(1), int(match.group(2) or 1)), other))
    found.sort(reverse=True)
    removed = []
    for _, old in found[max(keep, 0):]:
        old.unlink(missing_ok=True)
        removed.append(str(old))
    return removed
