"""The workspace's other operations: the v1 endpoints (their v2 equivalents, so one set of
rules applies), anonymous events (v1 `POST /api/v1/events`, kept apart from people), form
submissions and delivery events (v2 `delivery event`, v1 `POST /api/v1/metrics`).

A form submission names its person by the `id` or `email` in its data and is kept with them;
which fields become attributes is the form's own mapping in Customer.io, so the model changes
no attribute for it.
"""

from __future__ import annotations

import sqlite3
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS ws_forms (form TEXT, person INTEGER, data TEXT, request INTEGER);
CREATE INDEX IF NOT EXISTS ws_forms_person ON ws_forms(person);
CREATE TABLE IF NOT EXISTS ws_deliveries (delivery TEXT, metric TEXT, timestamp INTEGER,
    device_token TEXT, request INTEGER);
"""


def as_v2(op: dict[str, Any]) -> dict[str, Any] | None:
    """A v1 request's operation as the v2 operation that does the same, or None (a v1 call the
    workspace does not model). Anonymous events stay v1: `type` person, no identifiers."""
    method, _, path = str(op.get("action", "")).partition(" ")
    data = op.get("data") if isinstance(op.get("data"), dict) else {}
    parts = path.strip("/").split("/")  # api v1 customers {identifier} [events|devices|...]
    if parts[2:3] == ["events"] and method == "POST":
        return {"type": "person", "action": "event", "anonymous_id": data.get("anonymous_id"),
                "name": data.get("name"), "timestamp": data.get("timestamp"),
                "attributes": data.get("data"), "id": data.get("id")}
    if parts[2:3] == ["merge_customers"]:
        return {"type": "person", "action": "merge", "primary": data.get("primary") or {},
                "secondary": data.get("secondary") or {}}
    if parts[2:3] == ["metrics"]:
        return {"type": "delivery", "action": "event", "identifiers": {
            "id": data.get("delivery_id")}, "name": data.get("metric"),
            "timestamp": data.get("timestamp"), "attributes": {
                "device_token": data.get("device_id")}}
    if parts[2:3] != ["customers"] or len(parts) < 4:
        return None
    person = {"type": "person", "identifiers": {"id": parts[3]}}  # the path is decoded
    rest = parts[4] if len(parts) > 4 else ""
    if rest == "" and method == "PUT":
        return {**person, "action": "identify", "attributes": data}
    if rest == "" and method == "DELETE":
        return {**person, "action": "delete"}
    if rest == "events":
        return {**person, "action": "event", "name": data.get("name"),
                "timestamp": data.get("timestamp"), "attributes": data.get("data"),
                "id": data.get("id")}
    if rest == "devices":
        device = data.get("device") or {}
        return {**person, "action": "add_device", "device": {
            "token": device.get("id"), "platform": device.get("platform"),
            "last_used": device.get("last_used")}}
    if rest in ("suppress", "unsuppress"):
        return {**person, "action": rest}
    return None


def form(cur: sqlite3.Cursor, pk: int, request: int, op: dict[str, Any], text: str) -> None:
    cur.execute("INSERT INTO ws_forms VALUES (?, ?, ?, ?)",
                (str(op.get("form_id")), pk, text, request))


def delivery(cur: sqlite3.Cursor, request: int, op: dict[str, Any], received: float) -> None:
    stamp = op.get("timestamp")
    cur.execute("INSERT INTO ws_deliveries VALUES (?, ?, ?, ?, ?)", (
        str((op.get("identifiers") or {}).get("id")), op.get("name"),
        int(stamp) if isinstance(stamp, int | float) else int(received),
        str((op.get("attributes") or {}).get("device_token")), request))
