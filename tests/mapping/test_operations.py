"""Every operation the tool can emit validates against the published OpenAPI document."""

from __future__ import annotations

import orjson
import polars as pl
import pytest
from helpers.openapi import batch_errors, request_errors

from backfill.contract import LINE, ROW
from backfill.delivery.packer import Packer
from backfill.mapping.config import OPERATION_KEYS, parse_mapping
from backfill.mapping.encode import Encoder

ROWS = {
    "user_id": ["u1", "u2"], "email": ["a@example.com", "b@example.com"],
    "company": ["acme", "globex"], "role": ["admin", ""], "plan": ["pro", "free"],
    "token": ["tok-1", "tok-2"], "platform": ["ios", "Android"],
    "seen": ["2024-01-02 03:04:05", "1700000000"], "ev": ["purchase", "signup"],
    "at": ["2024-05-01T10:00:00Z", "1714557600123"], "old": ["legacy-1", "legacy-2"],
    "delivery": ["RPIy1", "RPIy2"], "metric": ["opened", "delivered"],
    "anon": ["anon-1", "anon-2"], "segment": ["12", "12"], "form": ["contact", "contact"],
}
PERSON = "identifiers: {id: user_id}"
OBJECT = 'identifiers: {object_type_id: {value: "1"}, object_id: company}'
TO_OBJECT = ('relationships: [{identifiers: {object_type_id: {value: "1"}, object_id: company},'
             ' attributes: {role: role}}]')
TO_PERSON = "relationships: [{identifiers: {id: user_id}, attributes: {role: role}}]"
BODIES = {
    ("person", "identify"): f"{PERSON}, timestamp: at, attributes: {{plan: plan}}, {TO_OBJECT}",
    ("person", "delete"): PERSON,
    ("person", "event"): f"{PERSON}, name: ev, timestamp: at, attributes: {{plan: plan}}",
    ("person", "screen"): f"{PERSON}, name: ev, timestamp: at",
    ("person", "page"): f"{PERSON}, name: {{value: /pricing}}, timestamp: now, dedupe_id: none",
    ("person", "add_relationships"): f"{PERSON}, {TO_OBJECT}",
    ("person", "delete_relationships"): f"{PERSON}, {TO_OBJECT}",
    ("person", "add_device"): f"{PERSON}, device: {{token: token, platform: platform, "
                              "last_used: seen, attributes: {app_version: plan}}",
    ("person", "delete_device"): f"{PERSON}, device: {{token: token}}",
    ("person", "merge"): "primary: {id: user_id}, secondary: {id: old}",
    ("person", "suppress"): "identifiers: {email: email}",
    ("person", "unsuppress"): PERSON,
    ("object", "identify"): f"{OBJECT}, attributes: {{plan: plan}}, {TO_PERSON}",
    ("object", "identify_anonymous"): f"{OBJECT}, relationships: [{{identifiers: "
                                      "{anonymous_id: anon}}]",
    ("object", "delete"): 'identifiers: {cio_object_id: company}',
    ("object", "add_relationships"): f"{OBJECT}, {TO_PERSON}",
    ("object", "delete_relationships"): f"{OBJECT}, {TO_PERSON}",
    ("delivery", "event"): "identifiers: {id: delivery}, name: metric, timestamp: at, "
                           "attributes: {device_token: token}",
    ("segment", "add_customers"): f"segment_id: segment, {PERSON}",
    ("segment", "remove_customers"): "segment_id: {value: 7}, identifiers: {email: email}",
    ("form", "submit"): "form_id: form, data: {email: email, first_name: plan}",
}


def test_every_operation_has_a_case():
    assert set(BODIES) == set(OPERATION_KEYS)


@pytest.mark.parametrize("kind", sorted(BODIES), ids=lambda k: f"{k[0]}-{k[1]}")
def test_operation_validates_against_the_published_schema(kind):
    typ, action = kind
    mapping = parse_mapping(f"version: 1\noperations:\n  - {{type: {typ}, action: {action}, "
                            f"{BODIES[kind]}}}\n", "m.yaml")
    frame = pl.DataFrame(ROWS).with_columns(pl.int_range(0, 2, dtype=pl.Int64).alias(ROW),
                                            pl.lit(2, dtype=pl.Int64).alias(LINE))
    encoded = Encoder(mapping).encode(frame, "rows.csv")
    assert encoded.rejects == [] and encoded.ops.height == 2
    packer = Packer()
    batches = packer.add(encoded.ops, 0) + packer.flush()
    for batch in batches:
        body = orjson.loads(batch.body)
        if batch.path == "/api/v2/batch":
            assert batch_errors(body) == [], body
            assert all(op["type"] == typ and op["action"] == action for op in body["batch"])
        else:
            template = ("/api/v1/segments/{segment_id}/" + action if typ == "segment"
                        else "/api/v1/forms/{form_id}/submit")
            assert request_errors(template, body) == [], body
    if typ == "segment":
        assert [b.path for b in batches] in (
            ["/api/v1/segments/12/add_customers?id_type=id"],
            ["/api/v1/segments/7/remove_customers?id_type=email"])
        assert orjson.loads(batches[0].body)["ids"] in (["u1", "u2"], ROWS["email"])
    if typ == "form":
        assert [b.path for b in batches] == ["/api/v1/forms/contact/submit"] * 2


@pytest.mark.parametrize("ops, values, reason", [
    ("{type: delivery, action: event, identifiers: {id: d}, name: n, "
     "attributes: {device_token: t}}", {"d": "1", "n": "clicked", "t": "x"},
     'delivery event name "clicked" is not one of opened, converted, delivered'),
    ("{type: delivery, action: event, identifiers: {id: d}, name: {value: opened}, "
     "attributes: {device_token: t}}", {"d": "1", "n": "", "t": ""},
     "attributes.device_token is empty"),
    ("{type: person, action: add_device, identifiers: {id: d}, device: {token: t, "
     "platform: n}}", {"d": "1", "n": "windows", "t": "x"},
     'device platform "windows" is not ios or android'),
    ("{type: person, action: merge, primary: {id: d}, secondary: {id: t}}",
     {"d": "1", "n": "", "t": ""}, "secondary no identifier"),
    ("{type: segment, action: add_customers, segment_id: n, identifiers: {id: d}}",
     {"d": "1", "n": "vip", "t": ""}, 'segment_id "vip" is not a segment number'),
    ("{type: form, action: submit, form_id: {value: f}, data: {id: d, email: t}}",
     {"d": "1", "n": "", "t": "a@b.c"}, "has both 'id' and 'email'"),
])
def test_invalid_rows_of_the_new_operations_are_rejected(ops, values, reason):
    mapping = parse_mapping(f"version: 1\noperations:\n  - {ops}\n", "m.yaml")
    frame = pl.DataFrame({k: [v] for k, v in values.items()}).with_columns(
        pl.lit(0, dtype=pl.Int64).alias(ROW), pl.lit(2, dtype=pl.Int64).alias(LINE))
    encoded = Encoder(mapping).encode(frame, "f")
    assert len(encoded.rejects) == 1 and reason in encoded.rejects[0].reason


@pytest.mark.parametrize("ops, message", [
    ("- {type: delivery, action: event, identifiers: {id: d}, name: {value: clicked}, "
     "attributes: {device_token: t}}", "is not one of opened"),
    ("- {type: delivery, action: event, identifiers: {id: d}, name: n}",
     "attributes.device_token is required"),
    ("- {type: person, action: add_device, identifiers: {id: d}, device: {token: t}}",
     "device.platform is required"),
    ("- {type: person, action: merge, identifiers: {id: d}}", "unknown key 'identifiers'"),
    ("- {type: segment, action: add_customers, segment_id: s, identifiers: {phone: p}}\n"
     "  - {type: person, action: delete, identifiers: {id: d}}", "mapping of its own"),
    ("- {type: form, action: submit, form_id: f, data: {name: n}}", "'id' or 'email'"),
])
def test_mapping_problems_of_the_new_operations(ops, message):
    from backfill.errors import MappingError

    with pytest.raises(MappingError) as err:
        parse_mapping(f"version: 1\noperations:\n  {ops}\n", "m.yaml")
    assert any(message in p.message for p in err.value.problems), err.value.problems
