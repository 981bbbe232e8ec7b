"""The rejects file: rejected rows and operations as NDJSON lines (`contract.Reject`)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import IO

from backfill.contract import Reject


class RejectsWriter:
    """Appends rejects as NDJSON lines; the file is created on the first reject only."""

    def __init__(self, path: str | Path | None, append: bool = False):
        self.path = Path(path) if path else None
        self.append = append
        self._fh: IO[bytes] | None = None
        self._lock = threading.Lock()  # the reader thread and the senders both write

    def write(self, reject: Reject) -> None:
        line = reject.to_json() + b"\n"
        with self._lock:
            if self.path is None:
                return
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "ab" if self.append else "wb")  # noqa: SIM115
            self._fh.write(line)

    def flush(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.flush()
                os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
