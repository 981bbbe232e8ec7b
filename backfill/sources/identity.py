"""What a file is, without reading it all: the fingerprint a checkpoint keeps to refuse a resume
on other data, and the identity that tells whether a reader opened earlier still reads the file
at its path."""

from __future__ import annotations

import hashlib
import os
from typing import Any

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
