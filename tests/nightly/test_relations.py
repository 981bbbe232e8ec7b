"""`nightly/relations.py`: the removals of the relationships that went, from the text last
delivered and tonight's, for either side and for identifies that hold relationships."""

from __future__ import annotations

import orjson

from backfill.nightly.relations import removals


def op(type_: str, ids: dict, action: str, rels: list[dict], **extra) -> str:
    return orjson.dumps({"type": type_, "identifiers": ids, "action": action, **extra,
                         "cio_relationships": [{"identifiers": r} for r in rels]}).decode()


def test_an_object_identify_loses_one_member_and_keeps_the_others():
    old = op("object", {"object_type_id": "1", "object_id": "c1"}, "identify",
             [{"id": "u1"}, {"id": "u2"}], attributes={"name": "Acme"})
    new = op("object", {"object_type_id": "1", "object_id": "c1"}, "identify", [{"id": "u2"}],
             attributes={"name": "Acme Inc"})
    assert orjson.loads(removals(old, new)) == {
        "type": "object", "identifiers": {"object_type_id": "1", "object_id": "c1"},
        "action": "delete_relationships", "cio_relationships": [{"identifiers": {"id": "u1"}}]}


def test_the_same_relationships_in_another_order_or_with_new_attributes_remove_nothing():
    a = {"object_type_id": "1", "object_id": "c1"}
    b = {"object_id": "c2", "object_type_id": "1"}
    old = op("person", {"id": "u1"}, "add_relationships", [a, b])
    assert removals(old, op("person", {"id": "u1"}, "add_relationships", [b, a])) is None


def test_a_key_gone_loses_every_relationship():
    old = op("person", {"email": "a@x.com"}, "add_relationships",
             [{"object_type_id": "1", "object_id": "c1"}])
    assert orjson.loads(removals(old, None))["cio_relationships"] == [
        {"identifiers": {"object_type_id": "1", "object_id": "c1"}}]
