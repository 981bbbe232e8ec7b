"""A nightly job's pieces shared by its tests: a people mapping, an export of chosen people, and
the operations the emulator stores for them (canonical JSON)."""

from __future__ import annotations

import orjson

MAPPING = """\
version: 1
operations:
  - type: person
    action: identify
    identifiers: {id: user_id}
    attributes: {email: email, plan: plan}
"""
HEADER = "user_id,email,plan\n"


def people(ids, plan=lambda i: "free") -> str:
    return HEADER + "".join(f"u{i},u{i}@example.com,{plan(i)}\n" for i in ids)


def identify(i, plan="free") -> bytes:
    return orjson.dumps({"action": "identify", "attributes": {"email": f"u{i}@example.com",
                                                              "plan": plan},
                         "identifiers": {"id": f"u{i}"}, "type": "person"},
                        option=orjson.OPT_SORT_KEYS)


def deleted(i, action="delete") -> bytes:
    return orjson.dumps({"action": action, "identifiers": {"id": f"u{i}"}, "type": "person"},
                        option=orjson.OPT_SORT_KEYS)
