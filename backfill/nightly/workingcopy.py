"""A nightly state in object storage (`--state s3://bucket/nightly/people.state`), for a job on a
runner whose disk does not outlive it.

The state is worked on in a local copy (a temporary folder) and kept in the bucket as the same
three parts it has on disk: `URL`, `URL.keys/...` and `URL.journal/...`. Each journal file is
uploaded as it is written, before the checkpoint counts its rows, so a runner that dies keeps
what the API acknowledged. At the end of a run the new key texts go up first, then the state
(one PUT: readers see the old object or the new one), then the journal and merged-away
segments are removed: a crash between those steps folds the journal twice, to the same state.

Objects have no advisory locks: running one job at a time on a state in a bucket is the
scheduler's job.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from backfill import storage
from backfill.nightly import statefile

PARTS = ("keys", "journal")


class WorkingCopy:
    """The local working copy of a state kept at `url`."""

    def __init__(self, url: str):
        self.url = url
        self._folder = tempfile.TemporaryDirectory(prefix="backfill-state-")  # removed at exit
        self.path = Path(self._folder.name) / "state"  # what `statefile` works on
        self._pulled: dict[str, tuple[int, int]] = {}

    def check_writable(self) -> None:
        """A probe object written and deleted: credentials and permissions known before
        anything is sent."""
        probe = f"{self.url}.probe-{os.getpid()}"
        storage.write(probe, b"")
        storage.delete(probe)

    def pull(self) -> None:
        """The state, its key texts and a stopped run's journal, copied here."""
        storage.download(self.url, self.path)  # False: no state yet
        for part in PARTS:
            folder = Path(f"{self.path}.{part}")
            for url in storage.listing(f"{self.url}.{part}/"):
                folder.mkdir(exist_ok=True)
                storage.download(url, folder / url.rsplit("/", 1)[1])
        self._pulled = self._segments()

    def journaled(self, file: Path) -> None:
        """A journal file just written here, uploaded."""
        storage.write(f"{self.url}.journal/{file.name}", file)

    def push(self) -> None:
        """The local state (after a fold or a finished run) made the bucket's."""
        now = self._segments()
        for name, stamp in now.items():
            if self._pulled.get(name) != stamp:
                storage.write(f"{self.url}.keys/{name}", statefile.keys_dir(self.path) / name)
        storage.write(self.url, self.path)  # streamed: 10M keys are 160 MB
        for name in set(self._pulled) - set(now):
            storage.delete(f"{self.url}.keys/{name}")
        for url in storage.listing(f"{self.url}.journal/"):
            storage.delete(url)
        self._pulled = now

    def _segments(self) -> dict[str, tuple[int, int]]:
        folder = statefile.keys_dir(self.path)
        if not folder.is_dir():
            return {}
        return {f.name: (f.stat().st_size, f.stat().st_mtime_ns)
                for f in sorted(folder.glob("*.parquet"))}

    def close(self) -> None:
        self._folder.cleanup()
