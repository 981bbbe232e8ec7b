"""The emulator's store: every accepted operation in SQLite (or only counted, for benchmarks),
with the counts `/_emulator/stats` reports, and the workspace they leave: applied beside it,
in a file of its own, by `applier.py` (in a process of its own while the emulator serves)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Any

from backfill.emulator import applier
from backfill.emulator.findings import findings

SETTLE_POLL_S = 0.002
CLOSE_WAIT_S = 30.0  # what stopping waits, at most, for the workspace to apply the rest


class Store:
    """Accepted operations in SQLite (or only counted, for benchmarks)."""

    def __init__(self, path: str | None, count_only: bool = False, keep_workspace: bool = True):
        self.count_only = count_only
        self.path = path
        self.operations = 0
        self.requests = 0
        self.lost_answers = 0
        self.per_second: Counter[int] = Counter()
        self.statuses: Counter[int] = Counter()
        self.db: sqlite3.Connection | None = None
        self.workspace: str | None = None  # its file (None: no workspace kept)
        self._inline: applier.Applier | None = None  # applies here when no process does
        self._process: subprocess.Popen[bytes] | None = None
        self._local = threading.local()  # each reading thread's own connection
        self._readers: list[sqlite3.Connection] = []
        self.kinds: Counter[tuple[Any, Any]] = Counter()  # operations stored, by type and action
        self._found: tuple[int, float, dict[str, Any]] | None = None  # findings, as of what
        self._finding = threading.Lock()
        if count_only:
            return
        if path is None:
            fd, path = tempfile.mkstemp(prefix="backfill-emulator-", suffix=".sqlite")
            os.close(fd)
            self.path = path
        applier.private_file(path)
        self.db = applier.connect(path)
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS requests (
                id INTEGER PRIMARY KEY, path TEXT, status INTEGER, received REAL,
                size INTEGER, operations INTEGER, latency_ms REAL);
            CREATE TABLE IF NOT EXISTS operations (
                id INTEGER PRIMARY KEY, request_id INTEGER, idx INTEGER, type TEXT,
                action TEXT, body TEXT);
        """)
        have = {row[1] for row in self.db.execute("PRAGMA table_info(requests)")}
        for column in ("size INTEGER", "operations INTEGER", "latency_ms REAL"):
            if column.split()[0] not in have:  # a store made by an older version
                self.db.execute(f"ALTER TABLE requests ADD COLUMN {column}")
        for (table,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name LIKE 'ws\\_%' ESCAPE '\\'").fetchall():
            # an earlier version kept the workspace in this file: it is made again in its own
            self.db.execute(f"DROP TABLE {table}")  # noqa: S608 - names from the schema
        self.kinds.update({(t, a): n for t, a, n in self.db.execute(
            "SELECT type, action, COUNT(*) FROM operations GROUP BY type, action")})
        if keep_workspace:
            self.workspace = applier.workspace_path(path)
            self._inline = applier.Applier(path, self.workspace)
            self.db.execute("ATTACH DATABASE ? AS workspace", (self.workspace,))

    def start_applying(self) -> None:
        """Apply the workspace in a process of its own from now on (the served emulator):
        requests are answered once stored, the workspace follows on another core."""
        if self._inline is None or self._process is not None:
            return
        self._inline.close()
        self._inline = None
        assert self.path is not None and self.workspace is not None
        self._process = subprocess.Popen(
            [sys.executable, "-c", "import sys; from backfill.emulator.applier import main; "
             "sys.exit(main(sys.argv[1:]))", self.path, self.workspace],
            stdin=subprocess.PIPE)
        assert self._process.stdin is not None
        os.set_blocking(self._process.stdin.fileno(), False)

    def _nudge(self) -> None:
        """Tell the process there is more to apply (a byte; a full pipe already says so)."""
        if self._process is not None and self._process.stdin is not None:
            with contextlib.suppress(BlockingIOError, BrokenPipeError):
                os.write(self._process.stdin.fileno(), b".")

    def _progress(self) -> tuple[int, int]:
        assert self.db is not None
        return applier.progress(self.db, "workspace")

    def behind(self) -> int:
        """Operations stored that the workspace has not applied yet (0: it is current)."""
        if self.db is None or self.workspace is None:
            return 0
        done, _ = self._progress()
        (count,) = self.db.execute("SELECT COUNT(*) FROM operations WHERE id > ?",
                                   (done,)).fetchone()
        return int(count)

    def _target(self) -> int:
        assert self.db is not None
        (top,) = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM operations").fetchone()
        return int(top)

    def _here(self) -> int:
        """Apply here what is behind, when no process does (or it stopped)."""
        if self._process is not None and self._process.poll() is not None:
            self._process = None  # it ended: carry on where it was
        if self._process is None and self._inline is None and self.workspace is not None:
            assert self.path is not None
            self._inline = applier.Applier(self.path, self.workspace)
        return self._inline.catch_up() if self._inline is not None else 0

    def _applying_toward(self, target: int) -> bool:
        """Whether the process is running and has not yet applied operation `target`."""
        return self._process is not None and self._process.poll() is None and \
            self._progress()[0] < target

    def settle(self, timeout: float = 60.0) -> int:
        """Wait until the workspace holds every operation stored so far (at most `timeout`
        seconds, when a process applies it); returns how many were behind."""
        if self.db is None or self.workspace is None:
            return 0
        waiting = self.behind()
        target, until = self._target(), time.monotonic() + timeout
        while self._applying_toward(target) and time.monotonic() < until:
            time.sleep(SETTLE_POLL_S)
        self._here()
        return waiting

    async def settled(self, timeout: float) -> bool:
        """`settle` without blocking the server: whether the workspace holds every operation
        stored when this was called (False: `timeout` seconds passed first)."""
        if self.db is None or self.workspace is None:
            return True
        target, until = self._target(), time.monotonic() + timeout
        while self._applying_toward(target):
            if time.monotonic() >= until:
                return False
            await asyncio.sleep(SETTLE_POLL_S * 5)
        self._here()
        return True

    def reading(self) -> sqlite3.Connection:
        """This thread's own connection to the store and its workspace, for the pages and the
        JSON face: their queries run beside the server's loop, never on it."""
        db = getattr(self._local, "db", None)
        if db is None:
            assert self.path is not None
            db = self._local.db = applier.reader(self.path)
            self._readers.append(db)
        return db

    def findings(self, fresh_s: float = 0.0) -> tuple[int, dict[str, Any]]:
        """What looks wrong (`findings.py`, a scan of every attribute), and as of how many
        operations applied: computed again when more were applied since, unless the last is
        under `fresh_s` seconds old. One computation at a time; from a reading thread."""
        with self._finding:
            done = applier.progress(self.reading(), "workspace")[0]
            kept = self._found
            if kept is None or (kept[0] != done and time.monotonic() - kept[1] >= fresh_s):
                kept = self._found = (done, time.monotonic(), findings(self.reading()))
            return kept[0], kept[2]

    @property
    def unmodelled(self) -> int:
        """Operations stored that the workspace could not hold."""
        return self._progress()[1] if self.db is not None and self.workspace else 0

    def seen(self, status: int) -> None:
        self.requests += 1
        self.statuses[status] += 1
        self.per_second[int(time.time())] += 1

    def record(self, path: str, status: int, ops: list[tuple[int, dict[str, Any], bytes]],
               size: int | None = None, started: float | None = None) -> None:
        """A request's accepted operations (`(index, operation, bytes as sent)`), with its
        body's size and when it arrived (`time.perf_counter()`), for the requests page."""
        self.operations += len(ops)
        if self.db is None:
            return
        cur = self.db.cursor()
        cur.execute("BEGIN")
        try:
            cur.execute("INSERT INTO requests (path, status, received, size, operations, "
                        "latency_ms) VALUES (?, ?, ?, ?, ?, ?)",
                        (path, status, time.time(), size, len(ops), None if started is None
                         else round((time.perf_counter() - started) * 1000, 3)))
            rid = cur.lastrowid
            rows = [(rid, i, op.get("type"), op.get("action"), raw.decode()) for i, op, raw in ops]
            cur.executemany("INSERT INTO operations (request_id, idx, type, action, body) "
                            "VALUES (?, ?, ?, ?, ?)", rows)
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        self.kinds.update((row[2], row[3]) for row in rows)
        self._nudge()

    def close(self, timeout: float = CLOSE_WAIT_S) -> None:
        """Let the workspace apply the rest (for at most `timeout` seconds, or until Ctrl-C:
        what is left is applied the next time the store is opened), then fold each write-ahead
        log into its file and close it: the store is one `.sqlite` file (and its workspace
        another) that any SQLite reader opens, not a small file beside a large `-wal`."""
        if self._process is not None:
            process, self._process = self._process, None
            assert process.stdin is not None
            process.stdin.close()  # the process applies the rest, and ends
            try:
                process.wait(timeout)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                process.kill()  # its last transaction is undone; the next open carries on
                process.wait()
        if self._inline is not None:
            self._inline.catch_up()
            self._inline.close()
            self._inline = None
        for reader in self._readers:
            reader.close()
        self._readers = []
        if self.db is not None:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.close()
            self.db = None

    def stats(self) -> dict[str, Any]:
        return {"requests": self.requests, "operations": self.operations,
                "lost_answers": self.lost_answers, "unmodelled": self.unmodelled,
                "max_per_second": max(self.per_second.values(), default=0),
                "per_second": {str(k): v for k, v in sorted(self.per_second.items())},
                "statuses": {str(k): v for k, v in self.statuses.items()}, "db": self.path,
                "workspace": self.workspace, "workspace_behind": self.behind()}
