"""One run at a time: an exclusive lock beside the checkpoint (and the state), for a whole run.

`fcntl.flock` on `<path>.lock`: the kernel releases it when the process ends, however it ends
(kill -9 included), so a stale lock never blocks the next night. The holder's PID is written
into the file, so a refused run can name it. (The `filelock` package does the same flock but
keeps no holder; the stdlib call is a few lines.)
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from types import TracebackType

from backfill import storage
from backfill.errors import UsageError
from backfill.runfiles.outputs import NOFOLLOW, PRIVATE

try:
    import fcntl
except ImportError:  # Windows: no advisory locks here; a run is not guarded there
    fcntl = None  # type: ignore[assignment]


class RunLock:
    """Held for the whole run; a second holder gets a `UsageError` (exit 2) at once."""

    def __init__(self, path: str | os.PathLike, what: str):
        self._target = os.fspath(path)
        self.path = Path(f"{self._target}.lock")
        self.what = what  # "checkpoint" or "state", for the message
        self._fd: int | None = None

    def acquire(self) -> None:
        if storage.is_url(self._target):
            return  # no lock in object storage: one runner at a time is the scheduler's job
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | NOFOLLOW, PRIVATE)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UsageError(f"{self.path} is a symbolic link: backfill never opens its "
                                 "lock through one (it would truncate the file it points to); "
                                 "remove it; nothing was sent") from None
            raise UsageError(f"the {self.what} {self.path.with_suffix('')} cannot be written "
                             f"({exc.strerror}: {self.path}); choose a writable folder with "
                             f"--{self.what}; nothing was sent") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise UsageError(
                    f"another run is using this {self.what} ({self.path.with_suffix('')}): "
                    f"process {holder} holds {self.path}. Wait for it to finish, or stop it "
                    "(its checkpoint lets the same command resume); nothing was sent") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
