"""The emulator's store: every accepted operation in SQLite (or only counted, for benchmarks),
with the counts `/_emulator/stats` reports, and the workspace they leave (`workspace.py`),
updated in the same transaction as each request is stored."""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from backfill.emulator import bulk, workspace


class Store:
    """Accepted operations in SQLite (or only counted, for benchmarks)."""

    def __init__(self, path: str | None, count_only: bool = False, keep_workspace: bool = True):
        self.count_only = count_only
        self.keep_workspace = keep_workspace  # False: operations stored, no workspace kept
        self.path = path
        self.operations = 0
        self.requests = 0
        self.lost_answers = 0
        self.unmodelled = 0  # operations stored that the workspace could not hold
        self.per_second: Counter[int] = Counter()
        self.statuses: Counter[int] = Counter()
        self.db: sqlite3.Connection | None = None
        if not count_only:
            if path is None:
                fd, path = tempfile.mkstemp(prefix="backfill-emulator-", suffix=".sqlite")
                os.close(fd)
                self.path = path
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # it holds every record sent: its owner's only (SQLite gives its -wal the same
            # mode), and never opened through a planted symlink
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            if stat.S_ISREG(os.fstat(fd).st_mode):  # never a device's mode
                os.fchmod(fd, 0o600)
            os.close(fd)
            self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=OFF")
            self.db.execute("PRAGMA cache_size=-262144")
            self.db.executescript("""
                CREATE TABLE IF NOT EXISTS requests (
                    id INTEGER PRIMARY KEY, path TEXT, status INTEGER, received REAL,
                    size INTEGER, operations INTEGER, latency_ms REAL);
                CREATE TABLE IF NOT EXISTS operations (
                    id INTEGER PRIMARY KEY, request_id INTEGER, idx INTEGER, type TEXT,
                    action TEXT, body TEXT);
            """)
            self._workspace_tables()
            have = {row[1] for row in self.db.execute("PRAGMA table_info(requests)")}
            for column in ("size INTEGER", "operations INTEGER", "latency_ms REAL"):
                if column.split()[0] not in have:  # a store made by an older version
                    self.db.execute(f"ALTER TABLE requests ADD COLUMN {column}")

    def _workspace_tables(self) -> None:
        """The workspace's tables, in this version's shape. Those of another shape (a store
        kept by an earlier version) are dropped: `rebuild` makes them again from the stored
        operations, which are the record; the workspace is derived from them."""
        assert self.db is not None
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        if version != workspace.VERSION:
            for (table,) in self.db.execute("SELECT name FROM sqlite_master WHERE type = "
                                            "'table' AND name LIKE 'ws\\_%' ESCAPE '\\'"
                                            ).fetchall():
                self.db.execute(f"DROP TABLE {table}")  # noqa: S608 - names from the schema
        self.db.executescript(workspace.SCHEMA)
        self.db.execute(f"PRAGMA user_version = {workspace.VERSION}")

    def missing_workspace(self) -> int:
        """How many stored operations have no workspace yet (kept with --no-workspace, or by
        an earlier version): what `rebuild` would apply; 0 when the workspace is there."""
        if self.db is None or not self.keep_workspace or self.db.execute(
                "SELECT EXISTS(SELECT 1 FROM ws_people) OR EXISTS(SELECT 1 FROM ws_objects)"
        ).fetchone()[0]:
            return 0
        return int(self.db.execute("SELECT COUNT(*) FROM operations").fetchone()[0])

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
            cur.executemany(
                "INSERT INTO operations (request_id, idx, type, action, body) "
                "VALUES (?, ?, ?, ?, ?)",
                [(rid, i, op.get("type"), op.get("action"), raw.decode()) for i, op, raw in ops])
            if self.keep_workspace:
                self._model(cur, int(rid or 0), ops)
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    def rebuild(self) -> int:
        """The workspace made again from the stored operations, in order of arrival, when the
        store has operations and no workspace (kept with --no-workspace, or by an older
        version). Returns how many operations were applied (0: nothing to do)."""
        if not self.missing_workspace():
            return 0
        assert self.db is not None
        cur = self.db.cursor()
        cur.execute("BEGIN")
        done, request, at, ops = 0, 0, 0.0, []
        for rid, received, body in self.db.execute(
                "SELECT o.request_id, r.received, o.body FROM operations o JOIN requests r ON "
                "r.id = o.request_id ORDER BY o.id"):
            if rid != request and ops:
                self._model(cur, request, ops, at)
                done, ops = done + len(ops), []
            request, at = rid, received
            ops.append((len(ops), orjson.loads(body), b""))
        if ops:
            self._model(cur, request, ops, at)
            done += len(ops)
        cur.execute("COMMIT")
        return done

    def _model(self, cur: sqlite3.Cursor, request: int,
               ops: list[tuple[int, dict[str, Any], bytes]], received: float | None = None) -> None:
        """What the workspace holds after these operations, in order of arrival. One the model
        cannot hold (nested deeper than JSON can be written again, say) is stored all the same
        and counted in `unmodelled`, its own changes undone; it never fails the request."""
        received = time.time() if received is None else received
        failed = (TypeError, ValueError, OverflowError, sqlite3.Error)
        cur.execute("SAVEPOINT ops")
        try:
            bulk.apply_all(cur, request, (op for _, op, _ in ops), received)
        except failed:  # the rare body that holds one: again, an operation at a time
            cur.execute("ROLLBACK TO ops")
            for _, op, _ in ops:
                cur.execute("SAVEPOINT op")
                try:
                    workspace.apply(cur, request, op, received)
                except failed:
                    cur.execute("ROLLBACK TO op")
                    self.unmodelled += 1
                cur.execute("RELEASE op")
        cur.execute("RELEASE ops")

    def close(self) -> None:
        """Fold the write-ahead log into the file and close it: the store is one `.sqlite` file
        that any SQLite reader opens, not a small file beside a large `-wal`."""
        if self.db is not None:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.close()
            self.db = None

    def stats(self) -> dict[str, Any]:
        return {"requests": self.requests, "operations": self.operations,
                "lost_answers": self.lost_answers, "unmodelled": self.unmodelled,
                "max_per_second": max(self.per_second.values(), default=0),
                "per_second": {str(k): v for k, v in sorted(self.per_second.items())},
                "statuses": {str(k): v for k, v in self.statuses.items()}, "db": self.path}
