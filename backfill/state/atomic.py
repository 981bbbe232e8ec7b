"""Atomic writes: a temp file in the same folder, flushed and fsynced, then `os.replace`, so a
crash leaves the old file or the new one, never a torn one; or an object replaced by one PUT."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from backfill import objects


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> None:
    """`write` fills the temp file; it replaces `path` only when complete and on disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except OSError:
        pass


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """A whole file, atomically: on disk (`atomic_write`), or an object (a PUT is atomic)."""
    if objects.is_url(path):
        objects.write(os.fspath(path), data)
    else:
        atomic_write(path, lambda fh: fh.write(data))
