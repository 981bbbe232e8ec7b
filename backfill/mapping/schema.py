"""The JSON Schema of mapping files, built from the same tables the loader uses.

Editors complete and check mappings with it (`# yaml-language-server: $schema=...`); the loader's
own messages, with YAML lines, stay the ones users read. `python -m backfill.mapping.schema` rewrites
`backfill/mapping.schema.json`; a test keeps the file in step with this code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backfill.mapping.model import (
    CONVERSIONS,
    DELIVERY_EVENTS,
    FORMATS,
    IDENTIFIER_KEYS,
    OBJECT_IDS,
    OPERATION_KEYS,
    PLATFORMS,
)
from backfill.mapping.valueopts import SEPARATORS

PATH = Path(__file__).resolve().parent.parent / "mapping.schema.json"
REF = "#/$defs/"


NULL_VALUES = {"description": "texts read as empty, such as N/A", "oneOf": [
    {"type": "string"}, {"type": "array", "items": {"type": ["string", "number"]}}]}


def _ids(keys: tuple[str, ...], description: str) -> dict[str, Any]:
    return {"type": "object", "description": description, "minProperties": 1,
            "additionalProperties": False,
            "properties": {k: {"$ref": REF + "value"} for k in keys}}


def _value() -> dict[str, Any]:
    return {
        "description": "A column name, {column, as, ...}, or {value} (a literal).",
        "oneOf": [
            {"type": "string", "description": "a column, as read"},
            {"type": "object", "required": ["column"], "additionalProperties": False,
             "properties": {"column": {"type": "string"},
                            "as": {"enum": list(CONVERSIONS)},
                            "format": {"description": "with as: timestamp: strftime patterns "
                                       "tried in order", "oneOf": [
                                           {"type": "string"},
                                           {"type": "array", "items": {"type": "string"}}]},
                            "day_first": {"type": "boolean", "description": "with as: "
                                          "timestamp: 03/04/2024 is 3 April (true) or March "
                                          "4 (false)"},
                            "timezone": {"type": "string", "description": "with as: "
                                         "timestamp: the zone of values without an offset"},
                            "thousands": {"enum": list(SEPARATORS), "description": "with as: "
                                          "int|float: the digit-group separator (1,234.50)"},
                            "decimal": {"enum": [".", ","], "description": "with as: "
                                        "int|float: the decimal mark (1.234,50)"},
                            "currency": {"type": "boolean", "description": "with as: "
                                         "int|float: drop a currency sign or code ($, USD)"},
                            "null_values": NULL_VALUES}},
            {"type": "object", "required": ["value"], "additionalProperties": False,
             "properties": {"value": {"type": ["string", "number", "boolean"]}}},
        ],
    }


def _definitions() -> dict[str, Any]:
    value = _value()
    fields = {"type": "object", "additionalProperties": {"$ref": REF + "value"},
              "propertyNames": {"maxLength": 150}}
    object_ids = {"description": "object_type_id and object_id, or cio_object_id alone",
                  "oneOf": [
                      {"type": "object", "required": list(OBJECT_IDS), "additionalProperties":
                       False, "properties": {k: {"$ref": REF + "value"} for k in OBJECT_IDS}},
                      {"type": "object", "required": ["cio_object_id"], "additionalProperties":
                       False, "properties": {"cio_object_id": {"$ref": REF + "value"}}}]}
    relationship = {"type": "object", "required": ["identifiers"], "additionalProperties": False,
                    "properties": {"identifiers": {}, "attributes": {"$ref": REF + "fields"}}}
    defs: dict[str, Any] = {
        "value": value,
        "fields": fields,
        "object_identifiers": object_ids,
        "person_identifiers": _ids(IDENTIFIER_KEYS["person"], "one of id, email, cio_id, phone; "
                                   "later keys are fallbacks where earlier ones are empty"),
        "segment_identifiers": _ids(IDENTIFIER_KEYS["segment"], "id, email or cio_id: the key "
                                    "sets id_type"),
        "delivery_identifiers": _ids(IDENTIFIER_KEYS["delivery"], "the delivery id"),
        "anonymous_identifiers": _ids(IDENTIFIER_KEYS["anonymous"], "an anonymous person"),
        "nulls": {"enum": ["skip", "clear"]},
        "dedupe_id": {"description": "auto (a ULID from the event's content), auto-v1 (the ids of "
                                     "backfill 0.2 and earlier), none, or a column",
                      "type": "string"},
        "device": {"type": "object", "required": ["token"], "additionalProperties": False,
                   "properties": {"token": {"$ref": REF + "value"},
                                  "platform": {"$ref": REF + "value",
                                               "description": " or ".join(PLATFORMS)},
                                  "last_used": {"$ref": REF + "value"},
                                  "attributes": {"$ref": REF + "fields"}}},
    }
    for kind in ("object", "person", "anonymous"):
        rel = json.loads(json.dumps(relationship))
        rel["properties"]["identifiers"] = {"$ref": f"{REF}{kind}_identifiers"}
        defs[f"relationships_to_{kind}"] = {"type": "array", "minItems": 1, "items": rel}
    return defs


def _key_schema(typ: str, action: str, key: str) -> dict[str, Any]:
    if key == "identifiers":
        kind = {"object": "object", "delivery": "delivery", "segment": "segment"}.get(typ,
                                                                                    "person")
        return {"$ref": f"{REF}{kind}_identifiers"}
    if key == "relationships":
        other = "anonymous" if action == "identify_anonymous" else (
            "object" if typ == "person" else "person")
        return {"$ref": f"{REF}relationships_to_{other}"}
    if key in ("attributes", "data"):
        return {"$ref": REF + "fields"}
    if key in ("primary", "secondary"):
        return {"$ref": REF + "person_identifiers"}
    if key in ("rest",):
        return {"type": "boolean"}
    if key == "exclude":
        return {"type": "array", "items": {"type": "string"}}
    if key in ("nulls", "dedupe_id", "device"):
        return {"$ref": REF + key}
    if key == "name" and typ == "delivery":
        return {"$ref": REF + "value", "description": ", ".join(DELIVERY_EVENTS)}
    return {"$ref": REF + "value"}


def mapping_schema() -> dict[str, Any]:
    operations = []
    for (typ, action), keys in OPERATION_KEYS.items():
        names = [k.lstrip("!") for k in keys]
        props: dict[str, Any] = {"type": {"const": typ}, "action": {"const": action},
                                 "when": {"type": "string", "description": "only rows where "
                                          "this column is not empty"}}
        props.update({k: _key_schema(typ, action, k) for k in names})
        operations.append({
            "title": f"{typ} {action}", "type": "object", "additionalProperties": False,
            "required": ["type", "action", *[k[1:] for k in keys if k.startswith("!")]],
            "properties": props,
        })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:backfill:mapping:1",
        "title": "backfill mapping",
        "description": "How the rows of CSV, NDJSON or Parquet files become Customer.io Track "
                       "API operations. Reference: docs/mapping.md.",
        "type": "object",
        "required": ["version", "operations"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": 1},
            "source": {"type": "object", "additionalProperties": False, "properties": {
                "path": {"oneOf": [{"type": "string"},
                                   {"type": "array", "items": {"type": "string"}}]},
                "format": {"enum": list(FORMATS)},
                "database": {"type": "string", "pattern": "^postgres(ql)?://"},
                "query": {"type": "string", "minLength": 1},
                "resume_key": {"oneOf": [{"type": "string"},
                                         {"type": "array", "items": {"type": "string"}}]},
                "null_values": NULL_VALUES,
                "max_record_bytes": {"type": "integer", "minimum": 1 << 20, "description":
                                     "the longest record read; a longer one refuses the input"},
                "csv": {"type": "object", "additionalProperties": False, "properties": {
                    "delimiter": {"type": "string", "maxLength": 2},
                    "quote": {"type": "string", "maxLength": 1},
                    "encoding": {"type": "string"},
                    "header": {"type": "boolean"}}}}},
            "recent_events": {"enum": ["send", "skip", "reject"], "description": "events from "
                              "the last 72 hours, which can trigger campaigns"},
            "api": {"type": "object", "additionalProperties": False, "properties": {
                "region": {"enum": ["us", "eu", "auto"]},
                "rate": {"type": "number", "exclusiveMinimum": 0},
                "concurrency": {"type": "integer", "minimum": 1},
                "endpoint": {"type": "string"}}},
            "operations": {"type": "array", "minItems": 1,
                           "items": {"oneOf": operations}},
        },
        "$defs": _definitions(),
    }


def render() -> str:
    return json.dumps(mapping_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {PATH}")
