"""The workspace, applied a run of operations at a time: the same outcome as `workspace.apply`
one operation after another, with the people read in one statement and every change written
with `executemany`, because a statement an operation is what a bulk import cannot afford.

A run holds only operations on people named by `id` alone (identify, events, page and screen
views, relationships, suppress, devices): in a run each person is found by that id and
nothing else, so the run's people are read first, changed in memory in order of arrival, and
written once. Anything else (a delete, a merge, a person named by email or cio_id, objects,
segments) ends the run and goes through `workspace.apply`.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from backfill.emulator import workspace

PERSON_ACTIONS = frozenset({"identify", "event", "page", "screen", "add_relationships",
                            "delete_relationships", "suppress", "unsuppress", "add_device",
                            "delete_device"})
CHUNK = 900  # ids in one `IN (...)`: under SQLite's oldest limit of 999 variables
REL_ADD = "INSERT OR REPLACE INTO ws_relationships VALUES (?, ?, ?, ?, ?)"
REL_DELETE = "DELETE FROM ws_relationships WHERE person = ? AND type = ? AND object = ?"
DEVICE_ADD = "INSERT OR REPLACE INTO ws_devices VALUES (?, ?, ?, ?, ?, ?)"
DEVICE_DELETE = "DELETE FROM ws_devices WHERE token = ? AND person = ?"


def bulk(op: dict[str, Any]) -> bool:
    """Whether an operation can go in a run: a person named by `id` alone (a text or an
    integer, not a bool)."""
    ids = op.get("identifiers")
    if type(ids) is not dict or len(ids) != 1 or op.get("type") != "person" or \
            op.get("action") not in PERSON_ACTIONS:
        return False
    key = ids.get("id")
    return (type(key) is str and key != "") or type(key) is int


def apply_all(cur: sqlite3.Cursor, request: int, ops: Iterable[dict[str, Any]],
              received: float) -> None:
    """Operations in order of arrival: runs of `bulk` ones together, the rest one by one."""
    run: list[dict[str, Any]] = []
    for op in ops:
        if bulk(op):
            run.append(op)
            continue
        if run:
            Run(cur, request, received).apply(run)
            run = []
        workspace.apply(cur, request, op, received)
    if run:
        Run(cur, request, received).apply(run)


class Person:
    __slots__ = ("attributes", "changed", "email", "new", "pk", "raw", "requests", "suppressed",
                 "updated")

    def __init__(self, pk: int, raw: str, updated: Any, email: str | None, suppressed: int,
                 requests: str, new: bool):
        self.pk, self.raw, self.updated, self.email = pk, raw, updated, email
        self.requests = requests
        self.suppressed, self.new, self.changed = suppressed, new, False
        self.attributes: dict[str, Any] | None = None  # read from `raw` when first changed


class Run:
    """One run's people in memory and its writes, in order, per table."""

    def __init__(self, cur: sqlite3.Cursor, request: int, received: float):
        self.cur, self.request, self.received = cur, request, received
        self.people: dict[str, Person] = {}
        self.events: list[tuple[Any, ...]] = []
        self.writes: dict[str, list[tuple[str, tuple[Any, ...]]]] = {"rel": [], "device": []}

    def apply(self, run: list[dict[str, Any]]) -> None:
        ids = [str(op["identifiers"]["id"]) for op in run]
        self._read(list(dict.fromkeys(ids)))
        people, identify = self.people, self._identify
        for op, pid in zip(run, ids, strict=True):
            if op["action"] == "identify" and "cio_relationships" not in op:
                identify(people[pid], op)  # most of a bulk import: straight to it
            else:
                self._one(op, people[pid])
        self._write()

    def _read(self, ids: list[str]) -> None:
        """The run's people (`ids` in order of arrival): those held, and the new ones."""
        wanted = sorted(ids)  # read in the index's order
        for at in range(0, len(wanted), CHUNK):
            part = wanted[at:at + CHUNK]
            for pk, pid, raw, updated, email, suppressed, requests in self.cur.execute(
                    "SELECT pk, id, attributes, updated, email, suppressed, requests FROM "
                    f"ws_people WHERE id IN ({','.join('?' * len(part))})", part):  # noqa: S608
                self.people[pid] = Person(pk, raw, updated, email, suppressed, requests, False)
        (top,) = self.cur.execute("SELECT COALESCE(MAX(pk), 0) FROM ws_people").fetchone()
        people = self.people
        for pid in ids:  # new people, numbered as they come
            if pid not in people:
                top += 1
                people[pid] = who = Person(top, "{}", None, None, 0, "", True)
                who.attributes = {}

    def _one(self, op: dict[str, Any], who: Person) -> None:
        action = op["action"]
        if action == "identify":
            self._identify(who, op)
            self._relate(who, op, add=True)
        elif action in ("event", "page", "screen"):
            stamp = op.get("timestamp")
            self.events.append((
                who.pk, None, op.get("id"), action, op.get("name"),
                int(stamp) if isinstance(stamp, int | float) else int(self.received),
                workspace.dumped(op.get("attributes")), self.request))
        elif action in ("add_relationships", "delete_relationships"):
            self._relate(who, op, add=action == "add_relationships")
        elif action in ("suppress", "unsuppress"):
            who.suppressed, who.changed = int(action == "suppress"), True
        elif action == "add_device":
            device = op.get("device") or {}
            self.writes["device"].append((DEVICE_ADD, (
                str(device.get("token")), who.pk, device.get("platform"),
                device.get("last_used"), workspace.dumped(device.get("attributes")),
                self.request)))
        else:  # delete_device
            self.writes["device"].append((DEVICE_DELETE, (
                str((op.get("device") or {}).get("token")), who.pk)))

    def _identify(self, who: Person, op: dict[str, Any]) -> None:
        stamp = op.get("timestamp")
        who.changed = True  # touched, applied or not, as one by one
        stamped = isinstance(stamp, int | float)
        if stamped and who.updated is not None and stamp < who.updated:
            return  # older than the update in effect: the API ignores it
        old = who.attributes
        if old is None:
            old = orjson.loads(who.raw)
        merged = workspace.merged(old, op.get("attributes") or {})
        email = merged.get("email")
        who.attributes = merged
        if type(email) is str:
            who.email = email
        if stamped:
            who.updated = stamp

    def _relate(self, who: Person, op: dict[str, Any], add: bool) -> None:
        for rel in op.get("cio_relationships") or []:
            ids = rel.get("identifiers") or {}
            pair = (who.pk, str(ids.get("object_type_id")), str(ids.get("object_id")))
            self.writes["rel"].append(
                (REL_ADD, (*pair, workspace.dumped(rel.get("relationship_attributes") or {}),
                           self.request))
                if add else (REL_DELETE, pair))

    def _write(self) -> None:
        cur, people, request = self.cur, self.people.values(), self.request
        touching = str(request)
        cur.executemany("INSERT INTO ws_people (pk, id, email, attributes, updated, suppressed, "
                        "requests) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [(p.pk, pid, p.email, _text(p), p.updated, p.suppressed,
                          touching if p.changed else "")
                         for pid, p in self.people.items() if p.new])
        cur.executemany("UPDATE ws_people SET attributes = ?, updated = ?, email = ?, "
                        "suppressed = ?, requests = ? WHERE pk = ?",
                        [(_text(p), p.updated, p.email, p.suppressed,
                          workspace.touched(p.requests, request), p.pk)
                         for p in people if p.changed and not p.new])
        cur.executemany("INSERT OR IGNORE INTO ws_events (person, anonymous_id, event_id, kind, "
                        "name, timestamp, attributes, request) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        self.events)
        for writes in self.writes.values():  # in order within a table, a statement per stretch
            for sql, stretch in itertools.groupby(writes, key=lambda write: write[0]):
                cur.executemany(sql, [params for _, params in stretch])


def _text(who: Person) -> str:
    return who.raw if who.attributes is None else orjson.dumps(who.attributes).decode()
