"""The workspace's JSON face, on the emulator's port behind its credentials: a summary, people
(searched and paged), a person, an object. Reads of `workspace.py`'s tables only.

    GET /_emulator/summary
    GET /_emulator/people?q=&limit=&after=
    GET /_emulator/people/{id}          (an id, an email, or a cio_id)
    GET /_emulator/objects/{type}/{id}
    GET /_emulator/findings             (what looks wrong: `findings.py`)
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import orjson
from aiohttp import web

from backfill.emulator.workspace import TOUCHES

LATEST = 20  # events shown with a person
MAX_PAGE = 1000


WAIT_S = 30.0  # what a read waits, at most, for the workspace to apply what was stored
NO_WORKSPACE = ("this emulator keeps no workspace (started with --no-workspace, or counting "
                "only): `backfill emulator --db STORE` makes it from the stored operations")


def routes(store: Any) -> list[web.RouteDef]:
    """The handlers over a `Store`. Each answers once the workspace holds every operation
    stored when it was asked (at most `WAIT_S`, or `?wait=` seconds: the pages' live counts
    ask with 0), so that a script reads what it sent."""
    def view(read):  # type: ignore[no-untyped-def]
        async def handler(request: web.Request) -> web.Response:
            if store.db is None or store.workspace is None:
                return web.json_response({"error": NO_WORKSPACE}, status=404)
            try:
                wait = min(float(request.query.get("wait", WAIT_S)), WAIT_S)
            except ValueError:
                raise web.HTTPBadRequest(text="wait is a number of seconds") from None
            await store.settled(wait)
            found = await asyncio.to_thread(lambda: read(store.reading(), request))
            if found is None:
                return web.json_response({"error": "not found"}, status=404)
            return web.json_response(found, dumps=lambda v: orjson.dumps(v).decode())
        return handler

    return [web.get("/_emulator/summary", view(
                lambda db, _request: summary(db, dict(store.kinds)))),
            web.get("/_emulator/people", view(people)),
            web.get("/_emulator/people/{id}", view(person)),
            web.get("/_emulator/objects/{type}/{id}", view(an_object)),
            web.get("/_emulator/findings", view(lambda _db, _request: store.findings()[1]))]


def summary(db: sqlite3.Connection, kinds: dict[tuple[Any, Any], int]) -> dict[str, Any]:
    """Counts of each kind; `kinds`: the operations stored by type and action, as the store
    counts them when they arrive (`Store.kinds`)."""
    def count(sql: str) -> int:
        return int(db.execute(sql).fetchone()[0])

    return {
        "people": count("SELECT COUNT(*) FROM ws_people"),
        "suppressed": count("SELECT COUNT(*) FROM ws_people WHERE suppressed"),
        "objects": count("SELECT COUNT(*) FROM ws_objects"),
        "relationships": count("SELECT COUNT(*) FROM ws_relationships"),
        "events": count("SELECT COUNT(*) FROM ws_events WHERE person IS NOT NULL"),
        "anonymous_events": count("SELECT COUNT(*) FROM ws_events WHERE person IS NULL"),
        "devices": count("SELECT COUNT(*) FROM ws_devices"),
        "segment_members": count("SELECT COUNT(*) FROM ws_segments"),
        "form_submissions": count("SELECT COUNT(*) FROM ws_forms"),
        "delivery_events": count("SELECT COUNT(*) FROM ws_deliveries"),
        "operations_behind": count("SELECT COUNT(*) FROM operations WHERE id > (SELECT "
                                   "operation FROM ws_progress)"),
        "unmodelled": count("SELECT unmodelled FROM ws_progress"),
        "requests_by_status": {str(s): n for s, n in db.execute(
            "SELECT status, COUNT(*) FROM requests GROUP BY status ORDER BY status")},
        "operations_by_kind": {f"{t} {a}": n for (t, a), n in sorted(
            kinds.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))},
    }


def people(db: sqlite3.Connection, request: web.Request) -> dict[str, Any]:
    """A page of people, in the order they first arrived; `q`: an id or email prefix."""
    q = request.query.get("q", "")
    try:
        limit = max(1, min(int(request.query.get("limit", "50")), MAX_PAGE))
        after = int(request.query.get("after", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text="limit and after are numbers") from None
    like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = db.execute(
        "SELECT pk, id, email, cio_id, suppressed FROM ws_people WHERE pk > ? AND "
        "(? = '' OR id LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\') ORDER BY pk LIMIT ?",
        (after, q, like, like, limit + 1)).fetchall()
    page = rows[:limit]
    return {"people": [{"id": r[1], "email": r[2], "cio_id": r[3], "suppressed": bool(r[4])}
                       for r in page],
            "next": page[-1][0] if len(rows) > limit else None}


def person(db: sqlite3.Connection, request: web.Request) -> dict[str, Any] | None:
    key = request.match_info["id"]
    row = None
    for column in ("id", "email", "cio_id"):
        row = db.execute("SELECT pk, id, email, cio_id, attributes, suppressed, updated, requests FROM "
                         f"ws_people WHERE {column} = ?", (key,)).fetchone()  # noqa: S608
        if row is not None:
            break
    if row is None:
        return None
    pk = row[0]
    events = db.execute("SELECT kind, name, timestamp, event_id, attributes FROM ws_events "
                        "WHERE person = ? ORDER BY timestamp DESC, pk DESC LIMIT ?",
                        (pk, LATEST)).fetchall()
    return {
        "identifiers": {k: v for k, v in zip(("id", "email", "cio_id"), row[1:4], strict=True)
                        if v is not None},
        "attributes": orjson.loads(row[4]), "suppressed": bool(row[5]), "updated": row[6],
        "relationships": [{"object_type_id": t, "object_id": o, "attributes": orjson.loads(a)}
                          for t, o, a in db.execute(
                              "SELECT type, object, attributes FROM ws_relationships "
                              "WHERE person = ? ORDER BY type, object", (pk,))],
        "devices": [{"token": t, "platform": p, "last_used": u,
                     "attributes": orjson.loads(a) if a else None} for t, p, u, a in db.execute(
                         "SELECT token, platform, last_used, attributes FROM ws_devices "
                         "WHERE person = ? ORDER BY token", (pk,))],
        "segments": [s for (s,) in db.execute(
            "SELECT segment FROM ws_segments WHERE person = ? ORDER BY segment", (pk,))],
        "forms": [{"form_id": f, "data": orjson.loads(d)} for f, d in db.execute(
            "SELECT form, data FROM ws_forms WHERE person = ? ORDER BY rowid", (pk,))],
        "event_count": int(db.execute("SELECT COUNT(*) FROM ws_events WHERE person = ?",
                                      (pk,)).fetchone()[0]),
        "events": [{"type": k, "name": n, "timestamp": t, "id": i,
                    "attributes": orjson.loads(a) if a else None} for k, n, t, i, a in events],
        "requests": touching(db, pk, row[7]),
    }


def an_object(db: sqlite3.Connection, request: web.Request) -> dict[str, Any] | None:
    key = (request.match_info["type"], request.match_info["id"])
    row = db.execute("SELECT attributes FROM ws_objects WHERE type = ? AND id = ?",
                     key).fetchone()
    related = db.execute(
        "SELECT p.id, p.email, r.attributes FROM ws_relationships r JOIN ws_people p "
        "ON p.pk = r.person WHERE r.type = ? AND r.object = ? ORDER BY p.pk", key).fetchall()
    if row is None and not related:
        return None
    return {"object_type_id": key[0], "object_id": key[1],
            "attributes": orjson.loads(row[0]) if row else None,
            "people": [{"id": i, "email": e, "attributes": orjson.loads(a)}
                       for i, e, a in related]}


def touching(db: sqlite3.Connection, pk: int, profile: str) -> list[int]:
    """The latest requests that touched a person: their profile's, their latest events',
    their relationships' and devices'."""
    found = {int(r) for r in profile.split(",") if r}
    found.update(r for (r,) in db.execute(
        "SELECT request FROM (SELECT request FROM ws_events WHERE person = ? ORDER BY "
        "timestamp DESC LIMIT 1000) UNION SELECT request FROM ws_relationships WHERE person = ? "
        "UNION SELECT request FROM ws_devices WHERE person = ? UNION SELECT request FROM "
        "ws_forms WHERE person = ?", (pk, pk, pk, pk)) if r is not None)
    return sorted(found)[-TOUCHES:]
