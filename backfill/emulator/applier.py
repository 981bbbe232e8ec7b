"""The workspace, applied beside the store: the stored operations, in order of arrival, made
into `workspace.py`'s tables in a SQLite file of their own (`workspace_path`).

The emulator answers a request once its operations are stored; a process of its own
(`applier.main`, started by `Store.start_applying`)
applies them as they arrive, on another core, so that keeping the workspace costs the
emulator's answers almost nothing. The emulator writes a byte on the process's stdin after
each request it stores; the process applies whatever is new, and when its stdin closes (the
emulator stopped, or was killed) it applies the rest and ends. How far it is, and the
operations it could not hold, are kept in the workspace file with the changes they made, in
one transaction: a workspace stopped half way carries on where it was, and one made by another
version of its tables is made again from the first operation.
"""

from __future__ import annotations

import gc
import itertools
import os
import signal
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

import orjson

from backfill.emulator import bulk, workspace

CHUNK = 50_000  # operations read and applied in one transaction
GATHER_S = 0.02  # after a wake, what more may arrive before applying: larger transactions
PROGRESS = """
CREATE TABLE IF NOT EXISTS ws_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1), operation INTEGER NOT NULL,
    unmodelled INTEGER NOT NULL);
INSERT OR IGNORE INTO ws_progress VALUES (1, 0, 0);
"""


def workspace_path(store: str) -> str:
    """The workspace's file, beside the store's: `run.sqlite` -> `run.workspace.sqlite`."""
    path = Path(store)
    return str(path.with_name(f"{path.stem}.workspace{path.suffix or '.sqlite'}"))


def private_file(path: str) -> None:
    """Make `path` (if need be) readable by its owner only, never through a planted symlink:
    it holds every record sent (SQLite gives its -wal the same mode)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # never a device's mode
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    db.execute("PRAGMA busy_timeout=10000")
    db.execute("PRAGMA wal_autocheckpoint=16384")  # 64 MB: fewer, larger folds of the log
    return db


def reader(store: str) -> sqlite3.Connection:
    """A connection to a store with its workspace attached: every table by its name."""
    db = sqlite3.connect(store, check_same_thread=False, isolation_level=None)
    db.execute("ATTACH DATABASE ? AS workspace", (workspace_path(store),))
    return db


def prepare(path: str) -> None:
    """The workspace file in this version's shape: one of another shape is emptied (its
    tables dropped), to be made again from the stored operations, which are the record."""
    private_file(path)
    db = connect(path)
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version != workspace.VERSION:
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                       ).fetchall():
                db.execute(f"DROP TABLE {table}")  # noqa: S608 - names from the schema
        db.executescript(workspace.SCHEMA + PROGRESS)
        db.execute(f"PRAGMA user_version = {workspace.VERSION}")
    finally:
        db.close()


def progress(db: sqlite3.Connection, schema: str = "main") -> tuple[int, int]:
    """(the last operation applied, how many could not be held), from a connection to the
    workspace file (`schema`: the name it is attached as)."""
    row = db.execute(f"SELECT operation, unmodelled FROM {schema}.ws_progress").fetchone()  # noqa: S608
    return (int(row[0]), int(row[1])) if row else (0, 0)


class Applier:
    """Applies a store's operations to its workspace file, from where it last stopped."""

    def __init__(self, store: str, path: str):
        prepare(path)
        self.source = connect(store)  # read only: the emulator writes it
        self.db = connect(path)

    def catch_up(self) -> int:
        """Apply every operation stored and not yet applied; how many that was."""
        applied = 0
        while True:
            done = self._chunk()
            if not done:
                return applied
            applied += done

    def _chunk(self) -> int:
        done, unmodelled = progress(self.db)
        rows = self.source.execute(
            "SELECT o.id, o.request_id, r.received, o.body FROM operations o JOIN requests r "
            "ON r.id = o.request_id WHERE o.id > ? ORDER BY o.id LIMIT ?", (done, CHUNK)
        ).fetchall()
        if not rows:
            return 0
        cur = self.db.cursor()
        cur.execute("BEGIN")
        try:
            for (request, received), group in itertools.groupby(rows, lambda r: (r[1], r[2])):
                ops = [orjson.loads(row[3]) for row in group]  # a request's operations at a time
                unmodelled += model(cur, request, ops, received)
            cur.execute("UPDATE ws_progress SET operation = ?, unmodelled = ?",
                        (rows[-1][0], unmodelled))
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        return len(rows)

    def close(self) -> None:
        """Fold the workspace's write-ahead log into its file, and close both."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.db.close()
        self.source.close()


def model(cur: sqlite3.Cursor, request: int, ops: list[dict[str, Any]], received: float) -> int:
    """What the workspace holds after one request's operations, in order of arrival; how many
    it could not hold (nested deeper than JSON can be written again, say): those are stored
    all the same, their own changes undone, and never fail the others."""
    failed = (TypeError, ValueError, OverflowError, sqlite3.Error)
    cur.execute("SAVEPOINT ops")
    unmodelled = 0
    try:
        bulk.apply_all(cur, request, ops, received)
    except failed:  # the rare body that holds one: again, an operation at a time
        cur.execute("ROLLBACK TO ops")
        for op in ops:
            cur.execute("SAVEPOINT op")
            try:
                workspace.apply(cur, request, op, received)
            except failed:
                cur.execute("ROLLBACK TO op")
                unmodelled += 1
            cur.execute("RELEASE op")
    cur.execute("RELEASE ops")
    return unmodelled


def main(argv: list[str]) -> int:
    """The process: apply what is stored, then again each time a byte arrives on stdin, until
    it closes; then the rest, and end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the emulator's: it closes stdin
    gc.set_threshold(100_000, 50, 50)  # it makes millions of short-lived dicts, and no cycles
    store, path = argv
    applier = Applier(store, path)
    try:
        while True:
            applier.catch_up()
            if not os.read(0, 65536):
                break
            time.sleep(GATHER_S)
        applier.catch_up()
    finally:
        applier.close()
    return 0

