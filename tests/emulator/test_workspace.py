"""The rehearsal workspace (issue 27, first part): the emulator applies every accepted operation,
in order of arrival, to a model of what Customer.io would hold, and serves it as JSON behind
its credentials. Driven through real requests to a real emulator."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
from helpers.emulated import KEY, SITE, start

AUTH = "Basic " + base64.b64encode(f"{SITE}:{KEY}".encode()).decode()


def call(url: str, path: str, body: object | None = None, auth: str = AUTH) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method="GET" if body is None else
                                     "POST", headers={"Authorization": auth,
                                                      "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def batch(url: str, *ops: dict) -> None:
    status, answer = call(url, "/api/v2/batch", {"batch": list(ops)})
    assert status == 200, answer


def person(**ids: str) -> dict:
    return {"type": "person", "identifiers": ids}


@pytest.fixture
def emu(tmp_path):
    emulator, _ = start(tmp_path)
    yield emulator.url
    emulator.stop()


def test_identifies_merge_attributes_a_null_clears_and_an_older_update_changes_nothing(emu):
    batch(emu, {**person(id="u1"), "action": "identify", "timestamp": 200,
                "attributes": {"plan": "pro", "seats": 3, "email": "u1@example.com"}},
          {**person(id="u1"), "action": "identify", "attributes": {"seats": None, "city": "Oslo"}},
          {**person(id="u1"), "action": "identify", "timestamp": 100,
           "attributes": {"plan": "free"}})  # older than 200: ignored, as the API does
    status, got = call(emu, "/_emulator/people/u1")
    assert status == 200
    assert got["attributes"] == {"plan": "pro", "email": "u1@example.com", "city": "Oslo"}
    assert got["identifiers"] == {"id": "u1", "email": "u1@example.com"}
    assert call(emu, "/_emulator/people/u1@example.com")[1]["attributes"] == got["attributes"]


def test_events_relationships_devices_and_segments_hang_on_the_person(emu):
    batch(emu, {**person(id="u1"), "action": "event", "id": "01HK421P48A5JNX9MRXQF4MRZM", "name": "buy",
                "timestamp": 1700000000, "attributes": {"amount": 3}},
          {**person(id="u1"), "action": "event", "id": "01HK421P48A5JNX9MRXQF4MRZM", "name": "buy",
           "timestamp": 1700000000},  # the same id: dropped
          {**person(id="u1"), "action": "page", "name": "/pricing", "timestamp": 1700000001},
          {**person(id="u1"), "action": "add_relationships", "cio_relationships": [
              {"identifiers": {"object_type_id": "1", "object_id": "c1"},
               "relationship_attributes": {"role": "admin"}}]},
          {**person(id="u1"), "action": "add_device",
           "device": {"token": "tok", "platform": "ios"}},
          {"type": "object", "identifiers": {"object_type_id": "1", "object_id": "c1"},
           "action": "identify", "attributes": {"name": "Acme"}})
    status, _ = call(emu, "/api/v1/segments/7/add_customers", {"ids": ["u1"]})
    assert status == 200
    got = call(emu, "/_emulator/people/u1")[1]
    assert got["event_count"] == 2 and [e["type"] for e in got["events"]] == ["page", "event"]
    assert got["relationships"] == [{"object_type_id": "1", "object_id": "c1",
                                     "attributes": {"role": "admin"}}]
    assert [d["token"] for d in got["devices"]] == ["tok"] and got["segments"] == ["7"]
    company = call(emu, "/_emulator/objects/1/c1")[1]
    assert company["attributes"] == {"name": "Acme"} and company["people"][0]["id"] == "u1"
    summary = call(emu, "/_emulator/summary")[1]
    assert {k: summary[k] for k in ("people", "objects", "relationships", "events",
                                    "anonymous_events", "devices", "segment_members")} == {
        "people": 1, "objects": 1, "relationships": 1, "events": 2, "anonymous_events": 0,
        "devices": 1, "segment_members": 1}
    assert summary["operations_by_kind"]["person event"] == 2  # the repeat stored, not held


def put(url: str, path: str, body: object) -> int:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="PUT",
                                     headers={"Authorization": AUTH,
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status


def test_v1_calls_forms_deliveries_and_anonymous_events_are_held_too(emu):
    """The v1 endpoints as their v2 equivalents; an anonymous event kept apart; a form
    submission kept with the person it names; delivery events counted."""
    assert put(emu, "/api/v1/customers/v1-ann", {"email": "ann@example.com", "plan": "pro"}) == 200
    assert call(emu, "/api/v1/customers/v1-ann/events",
                {"name": "bought", "timestamp": 1700000000, "data": {"sku": "A1"}})[0] == 200
    assert put(emu, "/api/v1/customers/v1-ann/devices",
               {"device": {"id": "tok1", "platform": "android"}}) == 200
    assert call(emu, "/api/v1/customers/v1-bob/suppress", {})[0] == 200
    assert call(emu, "/api/v1/events", {"anonymous_id": "anon-1", "name": "visited"})[0] == 200
    assert call(emu, "/api/v1/forms/signup/submit",
                {"data": {"email": "ann@example.com", "source": "ad"}})[0] == 204
    assert call(emu, "/api/v1/metrics", {"delivery_id": "d1", "metric": "opened",
                                         "timestamp": 1700000001})[0] == 200
    batch(emu, {"type": "delivery", "action": "event", "identifiers": {"id": "d2"},
                "name": "delivered", "attributes": {"device_token": "tok1"}})
    ann = call(emu, "/_emulator/people/v1-ann")[1]
    assert ann["attributes"] == {"email": "ann@example.com", "plan": "pro"}
    assert [(e["name"], e["attributes"]) for e in ann["events"]] == [("bought", {"sku": "A1"})]
    assert [(d["token"], d["platform"]) for d in ann["devices"]] == [("tok1", "android")]
    assert ann["forms"] == [{"form_id": "signup",
                             "data": {"email": "ann@example.com", "source": "ad"}}]
    assert call(emu, "/_emulator/people/v1-bob")[1]["suppressed"] is True
    summary = call(emu, "/_emulator/summary")[1]
    assert {k: summary[k] for k in ("people", "events", "anonymous_events", "form_submissions",
                                    "delivery_events", "devices")} == {
        "people": 2, "events": 1, "anonymous_events": 1, "form_submissions": 1,
        "delivery_events": 2, "devices": 1}


def test_delete_removes_and_merge_folds_the_secondary_into_the_primary(emu):
    batch(emu, {**person(id="a"), "action": "identify", "attributes": {"plan": "pro"}},
          {**person(id="b"), "action": "identify", "attributes": {"plan": "free", "x": 1}},
          {**person(id="b"), "action": "event", "name": "e", "timestamp": 1700000000},
          {"type": "person", "action": "merge", "primary": {"id": "a"},
           "secondary": {"id": "b"}},
          {**person(id="gone"), "action": "identify", "attributes": {"y": 1}},
          {**person(id="gone"), "action": "delete"},
          {**person(id="a"), "action": "suppress"})
    a = call(emu, "/_emulator/people/a")[1]
    assert a["attributes"] == {"plan": "pro", "x": 1} and a["event_count"] == 1
    assert a["suppressed"] is True
    assert call(emu, "/_emulator/people/b")[0] == 404
    assert call(emu, "/_emulator/people/gone")[0] == 404


def test_people_are_searched_and_paged(emu):
    batch(emu, *[{**person(id=f"u{i:02d}"), "action": "identify",
                  "attributes": {"email": f"u{i:02d}@example.com"}} for i in range(25)])
    first = call(emu, "/_emulator/people?limit=10")[1]
    second = call(emu, f"/_emulator/people?limit=10&after={first['next']}")[1]
    assert [p["id"] for p in first["people"]] == [f"u{i:02d}" for i in range(10)]
    assert [p["id"] for p in second["people"]][0] == "u10"
    found = call(emu, "/_emulator/people?q=u2")[1]
    assert [p["id"] for p in found["people"]] == [f"u{i}" for i in range(20, 25)]
    assert found["next"] is None


def test_the_workspace_needs_the_emulators_credentials(emu):
    assert call(emu, "/_emulator/summary", auth="Basic bm9wZTpub3Bl")[0] == 401
    assert call(emu, "/_emulator/people/u1")[0] == 404


def test_an_operation_the_model_cannot_hold_is_stored_counted_and_fails_nothing(tmp_path):
    emulator, store = start(tmp_path)
    deep: object = []
    for _ in range(600):  # orjson reads it; it cannot write it again
        deep = [deep]
    try:
        batch(emulator.url, {**person(id="u1"), "action": "identify", "attributes": {"a": 1}},
              {**person(id="u2"), "action": "identify", "attributes": {"deep": deep}})
        batch(emulator.url, {**person(id="u3"), "action": "identify"})
        got = call(emulator.url, "/_emulator/summary")[1]
        stats = call(emulator.url, "/_emulator/stats")[1]
    finally:
        emulator.stop()
    assert store.operations == 3 and stats["unmodelled"] == 1
    assert got["people"] == 2  # u1 and u3; u2's identify is stored, not modelled


def test_findings_show_what_looks_wrong_with_counts_and_examples(emu):
    import time

    now = int(time.time())
    batch(emu, {**person(id="a"), "action": "identify",
                "attributes": {"Plan": "pro", "seats": 3, "email": "a@example.com",
                               "signup_at": 1700000000000}},  # milliseconds
          {**person(id="b"), "action": "identify",
           "attributes": {"plan": "free", "seats": "three", "email": "not an email",
                          "renewal_date": 5000000000}},  # after 2100
          {**person(id="c"), "action": "identify"},  # no attributes
          {**person(id="a"), "action": "event", "name": "buy", "timestamp": now - 60},
          {**person(id="b"), "action": "event", "name": "old", "timestamp": 1500000000})
    got = call(emu, "/_emulator/findings")[1]
    case = got["attribute_names_differing_by_case"]
    assert case["count"] == 1 and case["attributes"][0]["seen"] == ["Plan", "plan"]
    mixed = got["attributes_of_mixed_types"]
    assert [(m["name"], m["seen"]) for m in mixed["attributes"]] == [
        ("seats", ["number", "string"])]
    assert got["times_in_milliseconds"] == {"count": 1, "examples": ["a"]}
    assert got["times_out_of_range"]["examples"] == ["b"]
    assert got["emails_that_are_not_emails"] == {"count": 1, "examples": ["b"]}
    assert got["recent_events"] == {"count": 1, "examples": ["a"]}
    assert got["people_without_attributes"] == {"count": 1, "examples": ["c"]}


def test_while_its_process_is_held_the_pages_say_how_far_behind_and_reads_wait(tmp_path):
    """The workspace's own process, stopped for real (SIGSTOP): requests are still answered and
    stored; a page says how many operations the workspace is behind, `?wait=0` answers at once
    with `operations_behind`; once the process runs again (SIGCONT), a read waits for it and
    holds what was sent."""
    import os
    import signal

    emulator, store = start(tmp_path)
    try:
        batch(emulator.url, {**person(id="u0"), "action": "identify", "attributes": {"n": 0}})
        assert call(emulator.url, "/_emulator/people/u0")[0] == 200
        pid = store._process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            batch(emulator.url, *({**person(id=f"u{i}"), "action": "identify",
                                   "attributes": {"n": i}} for i in range(1, 6)))
            status, summary = call(emulator.url, "/_emulator/summary?wait=0")
            assert status == 200 and summary["operations_behind"] == 5
            request = urllib.request.Request(emulator.url + "/people",
                                             headers={"Authorization": AUTH})
            with urllib.request.urlopen(request, timeout=10) as page:
                assert "The workspace is 5 operations behind the store" in page.read().decode()
        finally:
            os.kill(pid, signal.SIGCONT)
        status, got = call(emulator.url, "/_emulator/people/u5")  # waits for the process
        assert status == 200 and got["attributes"] == {"n": 5}
        assert call(emulator.url, "/_emulator/summary")[1]["operations_behind"] == 0
    finally:
        emulator.stop()
