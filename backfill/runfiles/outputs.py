"""The files a run writes beside its data (checkpoint, rejects, report, dumped bodies, state,
locks, the emulator's store): each created without following a symlink planted at its path,
readable by its owner only (0600: they hold the full records), never one of the run's inputs,
and, when appended to after a crash, cut back to whole lines first.

Whole files are written to a temporary file and renamed (`atomic.atomic_write`), which replaces
a symlink rather than writing through it; files written as they grow are opened here."""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import stat
from collections.abc import Iterable, Iterator

from backfill import storage
from backfill.errors import OutputFailed, UsageError

PRIVATE = 0o600
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def open_private(path: str | os.PathLike, append: bool = False, option: str = "output") -> int:
    """A descriptor for writing `path` (created 0600, or truncated unless `append`); a symlink
    at `path` is refused, never followed."""
    flags = os.O_WRONLY | os.O_CREAT | NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    try:
        fd = os.open(path, flags, PRIVATE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UsageError(f"{option} {path} is a symbolic link: backfill never writes "
                             "through one (it could overwrite any file); remove it or choose "
                             "another path") from None
        raise
    if stat.S_ISREG(os.fstat(fd).st_mode):  # not /dev/null, which is everyone's
        with contextlib.suppress(OSError):  # a file left by an older version may be 0644
            os.fchmod(fd, PRIVATE)
    return fd


def regular(path: str | os.PathLike) -> bool:
    """A regular file at `path` itself (not a symlink, a device such as /dev/null, a FIFO):
    the only kind an output may be removed, renamed or cut."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def whole_lines(path: str | os.PathLike) -> int:
    """Cut a file appended to line by line back to its last newline (a crash or a full disk
    may have left half a line); the bytes cut. A missing file is left alone."""
    if not regular(path):
        return 0
    try:
        fd = os.open(path, os.O_RDWR | NOFOLLOW)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        end = size
        while end > 0:
            start = max(end - 65536, 0)
            chunk = os.pread(fd, end - start, start)
            at = chunk.rfind(b"\n")
            if at >= 0:
                end = start + at + 1
                break
            end = start
        if end < size:
            os.ftruncate(fd, end)
        return size - end
    finally:
        os.close(fd)


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_inputs(outputs: dict[str, str | os.PathLike | None], inputs: Iterable[str]) -> None:
    """A usage error (exit 2) when an output names one of the run's inputs (or the mapping):
    writing it would destroy the data being imported."""
    local = [str(p) for p in inputs if p and p != "-" and not storage.is_url(p)
             and os.path.exists(p)]
    for option, path in outputs.items():
        if path is None or storage.is_url(path):
            continue
        for source in local:
            if _same(os.fspath(path), source):
                raise UsageError(f"{option} {path} is an input of this run ({source}): it "
                                 "would be overwritten; choose another path; nothing was sent")


def expanded(patterns: Iterable[str]) -> list[str]:
    """The local files command-line INPUT patterns name (globs expanded), for `refuse_inputs`."""
    return [p for pattern in patterns for p in (glob.glob(pattern) or [pattern])]


def failed(path: str | os.PathLike, what: str, exc: OSError) -> OutputFailed:
    """The stop for a write that failed (a full disk, say): one line naming the file."""
    why = exc.strerror or str(exc)
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT) or "os error 28" in why  # polars says so
    hint = " Free some space, then" if full else " Then"
    return OutputFailed(f"the {what} {path} could not be written ({why}): sending stopped at "
                        f"once; the last checkpoint saved is valid.{hint} run the same command "
                        "again to deliver the rest")


@contextlib.contextmanager
def writing(path: str | os.PathLike, what: str) -> Iterator[None]:
    """An OSError inside becomes the run's stop (`failed`), a message of one line."""
    try:
        yield
    except OSError as exc:
        raise failed(path, what, exc) from None
