"""Atomic writes: a temp file in the same folder, flushed and fsynced, then `os.replace`, so a
crash leaves the old file or the new one, never a torn one; or an object replaced by one PUT."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from backfill import storage
from backfill.errors import UsageError


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
    if storage.is_url(path):
        storage.write(os.fspath(path), data)
    else:
        atomic_write(path, lambda fh: fh.write(data))


def writable(path: str | None, option: str) -> str | None:
    """`path` once `check_writable` found its place writable (a click option's callback)."""
    check_writable(path, option)
    return path


def check_writable(path: str | os.PathLike | None, option: str) -> None:
    """Before anything is sent: a file can be made beside `path` (its folder made if need
    be), so a read-only place fails now, not with operations delivered and not recorded.
    Object URLs are checked when written."""
    if path is None or storage.is_url(path):
        return
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{Path(path).name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"{option} {path}: its folder cannot be written ({exc.strerror}); "
                         f"choose a writable place with {option}; nothing was sent") from None
