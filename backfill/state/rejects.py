"""The rejects file: rejected rows and operations as NDJSON lines (`contract.Reject`)."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import IO

from backfill import objects
from backfill.contract import Reject


class RejectsWriter:
    """Appends rejects as NDJSON lines; the file is created on the first reject only.

    In object storage (`s3://...`) the lines go to a local temporary file, and the object is
    replaced by the whole file at each flush (before a checkpoint counts their rows) and at the
    end; a resume starts from the object's lines."""

    def __init__(self, path: str | Path | None, append: bool = False):
        self.url = os.fspath(path) if path is not None and objects.is_url(path) else None
        self.path = Path(path) if path and self.url is None else None
        self.append = append
        self._fh: IO[bytes] | None = None
        self._lock = threading.Lock()  # the reader thread and the senders both write
        self._dirty = False
        if self.url is not None:
            fd, temp = tempfile.mkstemp(prefix="backfill-rejects-", suffix=".ndjson")
            os.close(fd)
            self.path = Path(temp)
            earlier = objects.read(self.url) if append else None
            self.path.write_bytes(earlier or b"")
            self.append = True

    def write(self, reject: Reject) -> None:
        line = reject.to_json() + b"\n"
        with self._lock:
            if self.path is None:
                return
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "ab" if self.append else "wb")  # noqa: SIM115
            self._fh.write(line)
            self._dirty = True

    def flush(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                if self.url is not None and self._dirty:
                    assert self.path is not None
                    objects.write(self.url, self.path.read_bytes())
                    self._dirty = False

    def close(self) -> None:
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None
        if self.url is not None and self.path is not None:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
