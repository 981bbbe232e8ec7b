"""The rejects file: rejected rows and operations as NDJSON lines (`contract.Reject`), created
0600 without following a symlink (`outputs`); a resume first cuts a torn last line. A write that
fails (a full disk) stops the run (`errors.OutputFailed`), before any row it held counts done."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import threading
from pathlib import Path
from typing import IO

from backfill import storage
from backfill.contract import Reject
from backfill.runfiles.outputs import failed, open_private, whole_lines


class RejectsWriter:
    """Appends rejects as NDJSON lines; the file is created on the first reject only.

    In object storage (`s3://...`) the lines go to a local temporary file, and the object is
    replaced by the whole file at each flush (before a checkpoint counts their rows) and at the
    end; a resume starts from the object's lines."""

    def __init__(self, path: str | Path | None, append: bool = False):
        self.url = os.fspath(path) if path is not None and storage.is_url(path) else None
        self.path = Path(path) if path and self.url is None else None
        self.append = append
        self._fh: IO[bytes] | None = None
        self._lock = threading.Lock()  # the reader thread and the senders both write
        self._dirty = False
        self._broken: Exception | None = None  # a write failed: each flush says so again
        if self.url is not None:
            fd, temp = tempfile.mkstemp(prefix="backfill-rejects-", suffix=".ndjson")
            os.close(fd)
            self.path = Path(temp)
            earlier = storage.read(self.url) if append else None
            self.path.write_bytes(earlier or b"")
            self.append = True

    def write(self, reject: Reject) -> None:
        line = reject.to_json() + b"\n"
        with self._lock:
            if self.path is None:
                return
            try:
                if self._fh is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    if self.append:
                        whole_lines(self.path)
                    self._fh = os.fdopen(open_private(self.path, self.append, "--rejects"), "ab")
                self._fh.write(line)
            except OSError as exc:
                raise self._failed(exc) from None
            self._dirty = True

    def _failed(self, exc: OSError) -> Exception:
        self._broken = failed(self.url or self.path or "", "rejects file", exc)
        return self._broken

    def flush(self) -> None:
        """Every line written so far on disk; after a failed write, that failure again (lines
        may be lost: no checkpoint may count their rows)."""
        with self._lock:
            if self._broken is not None:
                raise self._broken
            if self._fh is not None:
                try:
                    self._fh.flush()
                    os.fsync(self._fh.fileno())
                except OSError as exc:
                    if exc.errno != errno.EINVAL:  # EINVAL: a device (/dev/null), no disk
                        raise self._failed(exc) from None
                if self.url is not None and self._dirty:
                    assert self.path is not None
                    storage.write(self.url, self.path.read_bytes())
                    self._dirty = False

    def close(self) -> None:
        if self._fh is not None:
            try:
                if self._broken is None:  # a failure was said where it happened
                    self.flush()
            finally:
                fh, self._fh = self._fh, None
                with contextlib.suppress(OSError):  # the flush's failure is the one said
                    fh.close()
        if self.url is not None and self.path is not None:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
