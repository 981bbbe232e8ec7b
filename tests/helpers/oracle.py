"""What the emulator should hold, written from the Track API's documented shapes and the
mapping's rules by hand, independently of `validate`: the oracle of the end-to-end tests.

The shapes (docs/track-api.md, docs/mapping.md): `{"type", "identifiers", "action", ...}` with empty
values left out (`nulls: skip`), event timestamps as integer seconds, and `dedupe_id: auto` ids
built as documented (docs/mapping.md): a ULID whose time is the event's, in milliseconds, and
whose 80 random bits are the first bytes of the XXH3-128 of the event's JSON without its id, made
here with the xxhash package and python-ulid.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import xxhash
from ulid import ULID


def canonical(op: dict) -> bytes:
    return orjson.dumps(op, option=orjson.OPT_SORT_KEYS)


def event_id(event: dict[str, Any], scheme: str = "auto") -> str:
    """The documented `auto` (or `auto-v1`) id of an event with a timestamp (its JSON, members
    in sent order)."""
    text = orjson.dumps(event)
    digest = xxhash.xxh3_128_digest(text)[:10] if scheme == "auto" else \
        hashlib.blake2b(text, digest_size=10).digest()
    return str(ULID.from_bytes((event["timestamp"] * 1000).to_bytes(6, "big") + digest))


def identify_and_event(rows: Iterable[dict[str, Any]], attributes: list[str],
                       id_column: str = "user_id", ts_column: str = "ts",
                       scheme: str = "auto") -> Counter:
    """Each row -> identify (id, the non-empty attributes) and an `imported` event at `ts`."""
    ops: Counter = Counter()
    for row in rows:
        ids = {"id": str(row[id_column])}
        identify: dict[str, Any] = {"type": "person", "identifiers": ids, "action": "identify"}
        attrs = {a: row[a] for a in attributes if row.get(a) not in (None, "")}
        if attrs:
            identify["attributes"] = attrs
        event = {"type": "person", "identifiers": ids, "action": "event", "name": "imported",
                 "timestamp": int(row[ts_column])}
        ops[canonical(identify)] += 1
        ops[canonical({"id": event_id(event, scheme), **event})] += 1
    return ops


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
