"""What a file is, without reading it all: the fingerprint a checkpoint keeps to refuse a resume
on other data, and the identity that tells whether a reader opened earlier still reads the file
at its path."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from backfill.errors import InputChanged
from backfill.sources import remote

SAMPLE = 64 * 1024  # bytes hashed at the start, middle and end of a file for its fingerprint


def file_fingerprint(path: str) -> dict[str, Any]:
    """Path, size, mtime and a hash of sampled content (start, middle, end)."""
    if path == "-":
        return {"path": "-"}
    if remote.is_url(path):
        return remote.fingerprint(path)
    st = os.stat(path)
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for offset in sorted({0, max(st.st_size // 2 - SAMPLE // 2, 0),
                              max(st.st_size - SAMPLE, 0)}):
            fh.seek(offset)
            h.update(fh.read(SAMPLE))
    return {"path": path, "size": st.st_size, "mtime": int(st.st_mtime), "sample": h.hexdigest()}


def change(before: tuple[int, int, int] | None, path: str) -> str | None:
    """How the file at `path` differs from the identity it had (`before`), in words; None when
    it is the same file, unchanged (or cannot be told: stdin, a URL, whose reads are pinned to
    one version by its ETag)."""
    if before is None:
        return None
    after = identity(path)
    if after is None:
        return "was removed while it was read"
    if after == before:
        return None
    if after[0] != before[0]:
        return "was replaced by another file while it was read"
    if after[1] < before[1]:
        return f"was truncated while it was read (from {before[1]:,} to {after[1]:,} bytes)"
    if after[1] > before[1]:
        return (f"grew while it was read (from {before[1]:,} to {after[1]:,} bytes): rows "
                "written to it during the run may be missing or cut")
    return "was rewritten while it was read (same size, newer modification time)"


def unchanged(before: tuple[int, int, int] | None, path: str, name: str) -> None:
    """Raise `InputChanged` when the file at `path` is no longer the one read: the run stops
    before counting it finished (its checkpoint then refuses a resume on the other data)."""
    why = change(before, path)
    if why:
        raise InputChanged(f"{name} {why}: the run stopped before counting it finished. Rows "
                           "already sent are kept in the checkpoint, which refuses to resume "
                           "on a different file: once the file is complete and no longer "
                           "written, run the same command with --restart")


def identity(path: str) -> tuple[int, int, int] | None:
    """A local file's inode, size and modification time (ns); None for stdin, a URL, or a
    file that cannot be seen."""
    if path == "-" or remote.is_url(path):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns
