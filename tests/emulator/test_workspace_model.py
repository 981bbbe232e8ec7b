"""The workspace model against a reference applier written plainly here: random sequences of
identifies (with timestamps, nulls that clear, emails), deletes, merges, suppressions,
relationships and events (with repeated ids), cut into requests at random, give the same
people, relationships and events. People named by `id` alone take the bulk path
(`emulator/bulk.py`), the rest the one-by-one path (`emulator/workspace.py`): the sequences mix
both in one request."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backfill.emulator.applier import workspace_path
from backfill.emulator.store import Store

IDS = ["p1", "p2", "p3"]
EMAILS = ["a@x.io", "b@x.io"]


class Reference:
    """What the workspace holds, by the rules of `emulator/workspace.py`'s docstring."""

    def __init__(self) -> None:
        self.people: dict[int, dict[str, Any]] = {}
        self.top = 0
        self.rels: dict[tuple[int, str, str], Any] = {}
        self.events: dict[int, list[tuple[str, str | None]]] = {}

    def find(self, ids: dict[str, Any]) -> int | None:
        for key in ("id", "email"):
            if ids.get(key):
                for pk in ordered(self.people):
                    if self.people[pk][key] == ids[key]:
                        return pk
        return None

    def find_or_create(self, ids: dict[str, Any]) -> int:
        pk = self.find(ids)
        if pk is None:
            self.top += 1
            pk = self.top
            self.people[pk] = {"id": ids.get("id") or None, "email": ids.get("email") or None,
                               "attributes": {}, "updated": None, "suppressed": False}
            self.events[pk] = []
        return pk

    def apply(self, op: dict[str, Any]) -> None:
        action, ids = op["action"], op.get("identifiers") or {}
        if action == "delete":
            pk = self.find(ids)
            if pk is not None:
                self.forget(pk)
        elif action == "merge":
            self.merge(op["primary"], op["secondary"])
        else:
            pk = self.find_or_create(ids)
            if action == "identify":
                self.identify(pk, op)
            elif action == "event":
                taken = {e for evs in self.events.values() for _, e in evs if e is not None}
                if op.get("id") is None or op["id"] not in taken:
                    self.events[pk].append((op["name"], op.get("id")))
            elif action in ("suppress", "unsuppress"):
                self.people[pk]["suppressed"] = action == "suppress"
            for rel in op.get("cio_relationships") or []:
                key = (pk, rel["identifiers"]["object_type_id"], rel["identifiers"]["object_id"])
                if action == "delete_relationships":
                    self.rels.pop(key, None)
                else:
                    self.rels[key] = rel.get("relationship_attributes") or {}

    def identify(self, pk: int, op: dict[str, Any]) -> None:
        who, stamp = self.people[pk], op.get("timestamp")
        if stamp is not None and who["updated"] is not None and stamp < who["updated"]:
            return
        for key, value in (op.get("attributes") or {}).items():
            if value is None:
                who["attributes"].pop(key, None)
            else:
                who["attributes"][key] = value
        if isinstance(who["attributes"].get("email"), str):
            who["email"] = who["attributes"]["email"]
        who["email"] = (op.get("identifiers") or {}).get("email") or who["email"]
        if stamp is not None:
            who["updated"] = stamp

    def merge(self, primary: dict[str, Any], secondary: dict[str, Any]) -> None:
        into, gone = self.find_or_create(primary), self.find(secondary)
        if gone is None or gone == into:
            return
        kept = self.people[into]
        kept["attributes"] = {**self.people[gone]["attributes"], **kept["attributes"]}
        self.events[into] += self.events[gone]
        self.events[gone] = []
        for (pk, typ, obj), attributes in list(self.rels.items()):
            if pk == gone:
                self.rels.setdefault((into, typ, obj), attributes)
        self.forget(gone)

    def forget(self, pk: int) -> None:
        del self.people[pk]
        del self.events[pk]
        for key in [k for k in self.rels if k[0] == pk]:
            del self.rels[key]


def person_ids() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.sampled_from(IDS).map(lambda i: {"id": i}),
                     st.sampled_from(EMAILS).map(lambda e: {"email": e}),
                     st.tuples(st.sampled_from(IDS), st.sampled_from(EMAILS)).map(
                         lambda t: {"id": t[0], "email": t[1]}))


def relationships() -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(st.builds(lambda o, a: {"identifiers": {"object_type_id": "1",
                                                             "object_id": o},
                                            **({"relationship_attributes": a} if a else {})},
                              st.sampled_from(["c1", "c2"]),
                              st.dictionaries(st.just("role"), st.sampled_from(["x", "y"]))),
                    max_size=2)


def operations() -> st.SearchStrategy[dict[str, Any]]:
    attributes = st.dictionaries(st.sampled_from(["plan", "Plan", "score", "email"]),
                                 st.one_of(st.none(), st.integers(0, 3), st.sampled_from(
                                     ["free", "pro", "a@x.io", "c@x.io"])), max_size=3)
    person = {"type": st.just("person"), "identifiers": person_ids()}
    return st.one_of(
        st.fixed_dictionaries({**person, "action": st.just("identify"),
                               "attributes": attributes},
                              optional={"timestamp": st.integers(1, 5),
                                        "cio_relationships": relationships()}),
        st.fixed_dictionaries({**person, "action": st.just("event"),
                               "name": st.sampled_from(["buy", "view"])},
                              optional={"id": st.sampled_from(
                                  ["01J000000000000000000000E1", "01J000000000000000000000E2"]),
                                  "timestamp": st.integers(1, 5)}),
        st.fixed_dictionaries({**person, "action": st.sampled_from(
            ["delete", "suppress", "unsuppress"])}),
        st.fixed_dictionaries({**person, "action": st.sampled_from(
            ["add_relationships", "delete_relationships"]), "cio_relationships": relationships()}),
        st.fixed_dictionaries({"type": st.just("person"), "action": st.just("merge"),
                               "primary": person_ids(), "secondary": person_ids()}))


def ordered(rows: Any) -> list[Any]:
    return sorted(rows, key=lambda row: orjson.dumps(row, option=orjson.OPT_SORT_KEYS))


def held(db: sqlite3.Connection) -> dict[str, Any]:
    """People (by their identifiers), relationships and events, as the store holds them."""
    who = {pk: (i, e) for pk, i, e in db.execute("SELECT pk, id, email FROM ws_people")}
    return {
        "people": ordered((i, e, orjson.loads(a), bool(s)) for i, e, a, s in db.execute(
            "SELECT id, email, attributes, suppressed FROM ws_people")),
        "relationships": ordered((who[p], t, o, orjson.loads(a)) for p, t, o, a in db.execute(
            "SELECT person, type, object, attributes FROM ws_relationships")),
        "events": ordered((who[p], n, i or "") for p, n, i in db.execute(
            "SELECT person, name, event_id FROM ws_events")),
    }


def expected(ref: Reference) -> dict[str, Any]:
    who = {pk: (p["id"], p["email"]) for pk, p in ref.people.items()}
    return {
        "people": ordered((p["id"], p["email"], p["attributes"], p["suppressed"])
                         for p in ref.people.values()),
        "relationships": ordered((who[p], t, o, a) for (p, t, o), a in ref.rels.items()),
        "events": ordered((who[pk], n, i or "") for pk, evs in ref.events.items() for n, i in evs),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations(), max_size=30), st.lists(st.integers(1, 8), min_size=1))
def test_the_workspace_holds_what_the_reference_applier_holds(tmp_path_factory, ops, cuts):
    store, ref = Store(str(tmp_path_factory.mktemp("ws") / "s.sqlite")), Reference()
    at, i = 0, 0
    while at < len(ops):
        request = ops[at:at + cuts[i % len(cuts)]]
        store.record("/api/v2/batch", 200, [(n, op, orjson.dumps(op))
                                            for n, op in enumerate(request)])
        at, i = at + len(request), i + 1
    for op in ops:
        ref.apply(op)
    assert store.db is not None
    assert store.settle() == len(ops)  # applied here: no process applies it
    assert held(store.db) == expected(ref)
    assert store.unmodelled == 0
    store.close()


def test_a_store_kept_without_its_workspace_gets_the_same_workspace_again(tmp_path):
    """`backfill emulator --db` on a store made with --no-workspace (or by an older version)
    makes its workspace from the stored operations, in order of arrival: the same as kept
    live."""
    ops = [{"type": "person", "action": "identify", "identifiers": {"id": f"p{i % 7}"},
            "timestamp": i % 5, "attributes": {"n": i, "email": f"{i % 3}@x.io"}}
           for i in range(60)] + [
        {"type": "person", "action": "merge", "primary": {"id": "p1"},
         "secondary": {"id": "p2"}},
        {"type": "person", "action": "event", "identifiers": {"email": "1@x.io"}, "name": "e"},
        {"type": "person", "action": "delete", "identifiers": {"id": "p3"}}]
    live, kept = Store(str(tmp_path / "live.sqlite")), Store(str(tmp_path / "kept.sqlite"),
                                                             keep_workspace=False)
    for store in (live, kept):
        for at in range(0, len(ops), 9):
            store.record("/api/v2/batch", 200, [(n, op, orjson.dumps(op)) for n, op in
                                                enumerate(ops[at:at + 9])])
    assert kept.db is not None and live.db is not None
    assert kept.workspace is None and not Path(workspace_path(str(tmp_path / "kept.sqlite"))
                                               ).exists()
    kept.close()
    again = Store(str(tmp_path / "kept.sqlite"))
    assert again.behind() == len(ops) and again.settle() == len(ops)
    assert again.db is not None and live.settle() == len(ops)
    assert held(again.db) == held(live.db) and held(live.db)["people"]
    assert again.settle() == 0  # once only


def test_a_store_kept_by_an_earlier_layout_or_shape_is_made_again(tmp_path):
    """A store from an earlier version: its workspace tables inside the store's file (another
    shape: no `requests` column, a `ws_touches` table) are dropped on open, and the workspace
    is made again in its own file from the operations; new requests are modelled. A workspace
    file of another shape (`user_version`) is emptied and made again the same way."""
    path = tmp_path / "old.sqlite"
    op = {"type": "person", "action": "identify", "identifiers": {"id": "ann"},
          "attributes": {"plan": "pro"}}
    with sqlite3.connect(path) as con:
        con.executescript("""
            CREATE TABLE requests (id INTEGER PRIMARY KEY, path TEXT, status INTEGER,
                                   received REAL);
            CREATE TABLE operations (id INTEGER PRIMARY KEY, request_id INTEGER, idx INTEGER,
                                     type TEXT, action TEXT, body TEXT);
            CREATE TABLE ws_people (pk INTEGER PRIMARY KEY, id TEXT UNIQUE, email TEXT,
                cio_id TEXT UNIQUE, attributes TEXT NOT NULL DEFAULT '{}', updated INTEGER,
                suppressed INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE ws_touches (person INTEGER, request INTEGER,
                                     PRIMARY KEY (person, request));
            INSERT INTO ws_people (id, attributes) VALUES ('ann', '{"plan": "old"}');
            INSERT INTO requests VALUES (1, '/api/v2/batch', 200, 1700000000.0);""")
        con.execute("INSERT INTO operations VALUES (1, 1, 0, 'person', 'identify', ?)",
                    (orjson.dumps(op).decode(),))
    store = Store(str(path))
    assert store.db is not None
    tables = {t for (t,) in store.db.execute("SELECT name FROM main.sqlite_master WHERE "
                                             "type = 'table'")}
    assert tables == {"requests", "operations"}
    assert store.behind() == 1 and store.settle() == 1
    device = {"type": "person", "action": "add_device", "identifiers": {"id": "ann"},
              "device": {"token": "t1", "platform": "ios"}}
    store.record("/api/v2/batch", 200, [(0, device, orjson.dumps(device))])
    store.settle()
    assert store.unmodelled == 0
    assert held(store.db)["people"] == [("ann", None, {"plan": "pro"}, False)]
    assert store.db.execute("SELECT token FROM ws_devices").fetchall() == [("t1",)]
    store.close()
    again = Store(str(path))
    assert again.behind() == 0  # the same shape: kept as it is
    again.close()
    with sqlite3.connect(workspace_path(str(path))) as con:
        con.execute("PRAGMA user_version = 1")
    third = Store(str(path))
    assert third.behind() == 2 and third.settle() == 2
    assert third.db is not None and held(third.db)["people"] == [("ann", None, {"plan": "pro"},
                                                                 False)]
    third.close()


def test_the_process_applies_as_requests_arrive_and_carries_on_where_it_was_killed(tmp_path):
    """While the emulator serves, a process of its own applies the workspace: the same
    outcome as applied here. Killed half way (SIGKILL), the next applies from where the last
    transaction left it, and nothing twice."""
    ops = [{"type": "person", "action": "identify", "identifiers": {"id": f"p{i % 50}"},
            "timestamp": i, "attributes": {"n": i}} for i in range(3000)] + [
        {"type": "person", "action": "event", "identifiers": {"id": f"p{i % 50}"},
         "name": "e", "id": f"01J{i:023d}"} for i in range(3000)]
    here, there = Store(str(tmp_path / "here.sqlite")), Store(str(tmp_path / "there.sqlite"))
    there.start_applying()
    assert there._process is not None
    for store in (here, there):
        for at in range(0, len(ops), 200):
            store.record("/api/v2/batch", 200, [(n, op, orjson.dumps(op)) for n, op in
                                                enumerate(ops[at:at + 200])])
    there._process.kill()  # somewhere in what it had to do, or after it
    there._process.wait()
    assert here.db is not None and there.db is not None
    there.settle()  # the process is gone: the rest is applied here
    here.settle()
    assert held(there.db) == held(here.db) and len(held(here.db)["events"]) == 3000
    assert there.behind() == 0 and there.unmodelled == 0
    here.close()
    there.close()


def test_stopping_waits_a_while_for_the_workspace_and_the_next_open_applies_the_rest(tmp_path):
    """A workspace that cannot finish in time (its process held by SIGSTOP) does not hold up
    the emulator's stop: after `timeout` the process is killed, and the store opened again
    applies what was left."""
    import os
    import signal
    import time

    path = str(tmp_path / "s.sqlite")
    ops = [{"type": "person", "action": "identify", "identifiers": {"id": f"p{i}"},
            "attributes": {"n": i}} for i in range(50)]
    store = Store(path)
    store.start_applying()
    assert store._process is not None
    os.kill(store._process.pid, signal.SIGSTOP)
    store.record("/api/v2/batch", 200, [(n, op, orjson.dumps(op)) for n, op in enumerate(ops)])
    started = time.monotonic()
    store.close(timeout=0.5)
    assert time.monotonic() - started < 5
    again = Store(path)
    assert again.behind() == 50 and again.settle() == 50
    assert again.db is not None and len(held(again.db)["people"]) == 50
    again.close()
