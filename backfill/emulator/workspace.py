"""The rehearsal workspace: what Customer.io would hold after the operations the emulator
accepted, applied in order of arrival to tables of the emulator's SQLite store, as each request
is stored (never rebuilt).

- People, found by `id`, then `email`, then `cio_id`: an identify merges its attributes (a null
  clears one); one whose `timestamp` is older than the last applied to that person changes
  nothing (the API orders updates by it); delete removes the person and what hangs on them;
  suppress and unsuppress mark; merge folds the secondary into the primary (the primary's
  attributes win), moving its events, relationships, devices and segments.
- Objects by type and id (identify merges, delete removes); relationships with their
  attributes, from either side; events per person (a repeated `id` dropped, as the API drops
  it), page and screen views among them; devices by token; manual segment membership (v1).
  Anonymous events (v1), form submissions and delivery events: `others.py`, with the v1
  endpoints, which are applied as their v2 equivalents.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from backfill.emulator import others

TOUCHES = 20  # requests kept with each person, the latest
VERSION = 2  # of the tables' shape (the store's `user_version`): another is made again
SCHEMA = others.SCHEMA + """
CREATE TABLE IF NOT EXISTS ws_people (
    pk INTEGER PRIMARY KEY, id TEXT, email TEXT, cio_id TEXT,
    attributes TEXT NOT NULL DEFAULT '{}', updated INTEGER, suppressed INTEGER NOT NULL DEFAULT 0,
    requests TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX IF NOT EXISTS ws_people_id ON ws_people(id) WHERE id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ws_people_email ON ws_people(email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS ws_people_cio ON ws_people(cio_id) WHERE cio_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS ws_objects (
    type TEXT, id TEXT, attributes TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (type, id))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ws_relationships (
    person INTEGER, type TEXT, object TEXT, attributes TEXT NOT NULL DEFAULT '{}',
    request INTEGER, PRIMARY KEY (person, type, object)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ws_relationships_object ON ws_relationships(type, object);
CREATE TABLE IF NOT EXISTS ws_events (
    pk INTEGER PRIMARY KEY, person INTEGER, anonymous_id TEXT, event_id TEXT,
    kind TEXT, name TEXT, timestamp INTEGER, attributes TEXT, request INTEGER);
CREATE UNIQUE INDEX IF NOT EXISTS ws_events_id ON ws_events(event_id) WHERE event_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ws_events_person ON ws_events(person, timestamp);
CREATE TABLE IF NOT EXISTS ws_devices (
    token TEXT PRIMARY KEY, person INTEGER, platform TEXT, last_used INTEGER, attributes TEXT,
    request INTEGER);
CREATE TABLE IF NOT EXISTS ws_segments (segment TEXT, person INTEGER,
    PRIMARY KEY (segment, person)) WITHOUT ROWID;
"""


def apply(cur: sqlite3.Cursor, request: int, op: dict[str, Any], received: float) -> None:
    """One accepted operation, in the workspace."""
    if op.get("type") == "v1":
        v2 = others.as_v2(op)
        if v2 is None:
            return
        op = v2
    kind = (op.get("type"), op.get("action"))
    if kind[0] == "person" and not op.get("identifiers") and kind[1] != "merge":
        _event(cur, request, None, op, kind[1], received)  # anonymous: kept apart
    elif kind[0] == "person":
        _person(cur, request, op, kind[1], received)
    elif kind[0] == "object":
        _object(cur, request, op, kind[1])
    elif kind == ("form", "submit"):
        data = op.get("data") or {}
        pk = find_or_create(cur, request, {"id": data["id"]} if data.get("id") else
                            {"email": data.get("email")})
        touch(cur, pk, request)
        others.form(cur, pk, request, op, dumped(data) or "{}")
    elif kind == ("delivery", "event"):
        others.delivery(cur, request, op, received)
    elif kind == ("segment", "add_customers") or kind == ("segment", "remove_customers"):
        by = "email" if op.get("id_type") == "email" else "cio_id" \
            if op.get("id_type") == "cio_id" else "id"
        for value in op.get("ids") or []:
            pk = find_or_create(cur, request, {by: str(value)})
            touch(cur, pk, request)
            if kind[1] == "add_customers":
                cur.execute("INSERT OR IGNORE INTO ws_segments VALUES (?, ?)",
                            (str(op.get("segment_id")), pk))
            else:
                cur.execute("DELETE FROM ws_segments WHERE segment = ? AND person = ?",
                            (str(op.get("segment_id")), pk))


def _person(cur: sqlite3.Cursor, request: int, op: dict[str, Any], action: str,
            received: float) -> None:
    ids = op.get("identifiers") or {}
    if action == "merge":
        _merge(cur, request, op.get("primary") or {}, op.get("secondary") or {})
        return
    if action == "delete":
        pk = find(cur, ids)
        if pk is not None:
            _forget(cur, pk)
        return
    pk = find_or_create(cur, request, ids)
    if action == "identify":
        _identify(cur, pk, op)
        touch(cur, pk, request)
        _relate(cur, request, op, pk, None, add=True)
    elif action in ("event", "page", "screen"):
        _event(cur, request, pk, op, action, received)
    elif action in ("add_relationships", "delete_relationships"):
        _relate(cur, request, op, pk, None, add=action == "add_relationships")
    elif action in ("suppress", "unsuppress"):
        cur.execute("UPDATE ws_people SET suppressed = ? WHERE pk = ?",
                    (int(action == "suppress"), pk))
        touch(cur, pk, request)
    elif action == "add_device":
        device = op.get("device") or {}
        cur.execute("INSERT OR REPLACE INTO ws_devices VALUES (?, ?, ?, ?, ?, ?)",
                    (str(device.get("token")), pk, device.get("platform"),
                     device.get("last_used"), dumped(device.get("attributes")), request))
    elif action == "delete_device":
        cur.execute("DELETE FROM ws_devices WHERE token = ? AND person = ?",
                    (str((op.get("device") or {}).get("token")), pk))


def find(cur: sqlite3.Cursor, ids: dict[str, Any]) -> int | None:
    """A person's row by `id`, then `email`, then `cio_id`."""
    for key in ("id", "email", "cio_id"):
        if ids.get(key) not in (None, ""):
            row = cur.execute(f"SELECT pk FROM ws_people WHERE {key} = ?",  # noqa: S608
                              (str(ids[key]),)).fetchone()
            if row is not None:
                return int(row[0])
    return None


def find_or_create(cur: sqlite3.Cursor, request: int, ids: dict[str, Any]) -> int:
    pk = find(cur, ids)
    if pk is None:
        cur.execute("INSERT INTO ws_people (id, email, cio_id) VALUES (?, ?, ?)",
                    tuple(None if ids.get(k) in (None, "") else str(ids[k])
                          for k in ("id", "email", "cio_id")))
        pk = int(cur.lastrowid or 0)
    return pk


def touch(cur: sqlite3.Cursor, pk: int, request: int) -> None:
    """`request` changed this person's profile (events, relationships and devices keep their
    own request)."""
    (requests,) = cur.execute("SELECT requests FROM ws_people WHERE pk = ?", (pk,)).fetchone()
    cur.execute("UPDATE ws_people SET requests = ? WHERE pk = ?", (touched(requests, request), pk))


def touched(requests: str, request: int) -> str:
    """The latest requests that touched a person (ids, comma-separated), with `request`."""
    seen = requests.split(",") if requests else []
    if not seen or seen[-1] != str(request):
        seen.append(str(request))
    return ",".join(seen[-TOUCHES:])


def _identify(cur: sqlite3.Cursor, pk: int, op: dict[str, Any]) -> None:
    stamp = op.get("timestamp")
    row = cur.execute("SELECT attributes, updated, email FROM ws_people WHERE pk = ?",
                      (pk,)).fetchone()
    attributes, updated, email = orjson.loads(row[0]), row[1], row[2]
    if isinstance(stamp, int | float) and updated is not None and stamp < updated:
        return  # older than the update in effect: the API ignores it
    after = merged(attributes, op.get("attributes") or {})
    email = after.get("email", email) if isinstance(after.get("email", email), str) else email
    ids = op.get("identifiers") or {}
    cur.execute("UPDATE ws_people SET attributes = ?, updated = ?, email = COALESCE(?, email)"
                " WHERE pk = ?", (dumped(after), stamp if isinstance(stamp, int | float)
                                  else updated, ids.get("email") or email, pk))


def merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    if None not in new.values():  # the usual identify: nothing cleared
        return {**old, **new}
    out = dict(old)
    for key, value in new.items():
        if value is None:
            out.pop(key, None)  # a null clears the attribute
        else:
            out[key] = value
    return out


def _event(cur: sqlite3.Cursor, request: int, pk: int | None, op: dict[str, Any], kind: str,
           received: float) -> None:
    stamp = op.get("timestamp")
    cur.execute("INSERT OR IGNORE INTO ws_events (person, anonymous_id, event_id, kind, name, "
                "timestamp, attributes, request) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (pk, op.get("anonymous_id") if pk is None else None, op.get("id"), kind,
                 op.get("name"), int(stamp) if isinstance(stamp, int | float) else int(received),
                 dumped(op.get("attributes")), request))


def _relate(cur: sqlite3.Cursor, request: int, op: dict[str, Any], person: int | None,
            obj: tuple[str, str] | None, add: bool) -> None:
    """`cio_relationships` of a person (to objects) or of an object (to people)."""
    for rel in op.get("cio_relationships") or []:
        ids = rel.get("identifiers") or {}
        if person is not None:
            pair = (person, str(ids.get("object_type_id")), str(ids.get("object_id")))
        else:
            assert obj is not None
            pair = (find_or_create(cur, request, ids), *obj)
        if add:
            cur.execute("INSERT OR REPLACE INTO ws_relationships VALUES (?, ?, ?, ?, ?)",
                        (*pair, dumped(rel.get("relationship_attributes") or {}), request))
        else:
            cur.execute("DELETE FROM ws_relationships WHERE person = ? AND type = ? AND "
                        "object = ?", pair)


def _object(cur: sqlite3.Cursor, request: int, op: dict[str, Any], action: str) -> None:
    ids = op.get("identifiers") or {}
    key = (str(ids.get("object_type_id")), str(ids.get("object_id") or ids.get("cio_object_id")))
    if action == "delete":
        cur.execute("DELETE FROM ws_objects WHERE type = ? AND id = ?", key)
        cur.execute("DELETE FROM ws_relationships WHERE type = ? AND object = ?", key)
        return
    if action in ("identify", "identify_anonymous"):
        row = cur.execute("SELECT attributes FROM ws_objects WHERE type = ? AND id = ?",
                          key).fetchone()
        after = merged(orjson.loads(row[0]) if row else {}, op.get("attributes") or {})
        cur.execute("INSERT OR REPLACE INTO ws_objects VALUES (?, ?, ?)", (*key, dumped(after)))
    if action != "identify_anonymous":
        _relate(cur, request, op, None, key, add=action != "delete_relationships")


def _merge(cur: sqlite3.Cursor, request: int, primary: dict, secondary: dict) -> None:
    into, gone = find_or_create(cur, request, primary), find(cur, secondary)
    if gone is None or gone == into:
        return
    (kept, mine), (folded, theirs) = (cur.execute(
        "SELECT attributes, requests FROM ws_people WHERE pk = ?", (pk,)).fetchone()
        for pk in (into, gone))
    attributes = {**orjson.loads(folded), **orjson.loads(kept)}  # the primary's win
    requests = sorted({int(r) for r in f"{mine},{theirs}".split(",") if r})[-TOUCHES:]
    cur.execute("UPDATE ws_people SET attributes = ?, requests = ? WHERE pk = ?",
                (dumped(attributes), touched(",".join(map(str, requests)), request), into))
    for table in ("ws_events", "ws_devices", "ws_forms"):
        cur.execute(f"UPDATE {table} SET person = ? WHERE person = ?", (into, gone))  # noqa: S608
    for table in ("ws_relationships", "ws_segments"):
        cur.execute(f"UPDATE OR IGNORE {table} SET person = ? WHERE person = ?",  # noqa: S608
                    (into, gone))
    _forget(cur, gone)


def _forget(cur: sqlite3.Cursor, pk: int) -> None:
    """A person and what hangs on them (not the requests that touched them)."""
    for table in ("ws_relationships", "ws_devices", "ws_segments", "ws_events", "ws_forms"):
        cur.execute(f"DELETE FROM {table} WHERE person = ?", (pk,))  # noqa: S608
    cur.execute("DELETE FROM ws_people WHERE pk = ?", (pk,))


def dumped(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()
