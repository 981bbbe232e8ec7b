"""What the emulator accepts: the Track API's documented checks of one operation, and a batch
body cut into its items without decoding them (they are stored as sent). Pure."""

from __future__ import annotations

import re
from typing import Any

import msgspec

MAX_BODY = 500_000
MAX_OP = 32_000
ULID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
PERSON_ACTIONS = {"identify", "delete", "event", "screen", "page", "add_relationships",
                  "delete_relationships", "add_device", "delete_device", "merge", "suppress",
                  "unsuppress"}
OBJECT_ACTIONS = {"identify", "identify_anonymous", "delete", "add_relationships",
                  "delete_relationships"}
PERSON_IDS = ("id", "email", "cio_id", "phone")


def check_operation(op: Any) -> tuple[str, str] | None:
    """(field, message) when an operation is invalid, else None."""
    if not isinstance(op, dict):
        return "", "an operation is a JSON object"
    typ, action = op.get("type"), op.get("action")
    if typ == "person":
        if action not in PERSON_ACTIONS:
            return "action", f"unknown person action {action!r}"
    elif typ == "object":
        if action not in OBJECT_ACTIONS:
            return "action", f"unknown object action {action!r}"
    elif typ == "delivery":
        if action != "event" or op.get("name") not in ("opened", "converted", "delivered"):
            return "name", "delivery events are opened, converted or delivered"
    else:
        return "type", f"unknown type {typ!r}"
    if action != "merge":
        ids = op.get("identifiers")
        if not isinstance(ids, dict):
            return "identifiers", "identifiers are required"
        if typ == "person":
            present = [k for k in PERSON_IDS if ids.get(k) not in (None, "")]
            if len(present) != 1 or len(ids) != 1:
                return "identifiers", "exactly one of id, email, cio_id, phone"
            value = str(ids[present[0]])
            if len(value.encode()) > 150:
                return "identifiers", "identifier is over 150 bytes"
            if present[0] == "email" and "@" not in value:
                return "identifiers.email", "not an email address"
        elif typ == "object" and not ids.get("cio_object_id") and not (
                str(ids.get("object_type_id", "")).isdigit() and ids.get("object_id")):
            return "identifiers", "object_type_id and object_id are required"
    if action in ("event", "screen", "page"):
        name = op.get("name")
        if not isinstance(name, str) or not name:
            return "name", "name is required"
        if len(name.encode()) > 100:
            return "name", "event name is over 100 bytes"
        if "id" in op and not (isinstance(op["id"], str) and ULID.match(op["id"])):
            return "id", "id must be a ULID"
    if "timestamp" in op and not isinstance(op["timestamp"], int):
        return "timestamp", "timestamp must be an integer"
    if action in ("add_relationships", "delete_relationships"):
        rels = op.get("cio_relationships")
        if not isinstance(rels, list) or not rels:
            return "cio_relationships", "cio_relationships is required"
    attrs = op.get("attributes")
    if attrs is not None:
        if not isinstance(attrs, dict):
            return "attributes", "attributes must be an object"
        if len(attrs) > 300:
            return "attributes", "more than 300 attributes"
        for k, v in attrs.items():
            if len(k.encode()) > 150:
                return f"attributes.{k[:20]}", "attribute name over 150 bytes"
            if isinstance(v, str) and len(v.encode()) > 1000:
                return f"attributes.{k}", "attribute value over 1000 bytes"
    return None


class _BatchBody(msgspec.Struct):
    batch: list[msgspec.Raw]  # each item checked as JSON and kept as sent, not decoded


_BATCH = msgspec.json.Decoder(_BatchBody)


def raw_items(body: bytes) -> list[msgspec.Raw] | None:
    try:
        return _BATCH.decode(body).batch
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):  # nested too deep
        return None


def split_items(body: bytes) -> list[bytes] | None:
    """The bytes of each item of {"batch": [...]} exactly as sent, to measure and store them."""
    items = raw_items(body)
    return None if items is None else [bytes(item) for item in items]
