"""Parsing the `operations:` of a mapping: each operation's keys, identifiers, values, device,
relationships, checked against the keys its type and action take (`model.OPERATION_KEYS`), every
problem kept with its YAML line. The top level of the file is parsed in `config.py`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from backfill.errors import Problem
from backfill.mapping.model import (
    COMMON_KEYS,
    CONVERSIONS,
    DELIVERY_EVENTS,
    EVENT_ACTIONS,
    ID_SCHEMES,
    IDENTIFIER_KEYS,
    MAX_NAME_BYTES,
    OBJECT_IDS,
    OPERATION_KEYS,
    PLATFORMS,
    Device,
    Fields,
    Operation,
    Relationship,
    Value,
)
from backfill.mapping.valueopts import VALUE_KEYS, null_values, number_format, time_format


def line_of(node: Any, key: Any = None) -> int:
    """1-based line of a mapping key (or of the node itself)."""
    try:
        if key is not None and isinstance(node, CommentedMap):
            return node.lc.key(key)[0] + 1
        if key is not None and isinstance(node, CommentedSeq):
            return node.lc.item(key)[0] + 1
        return node.lc.line + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return 0


def plain(value: Any) -> Any:
    """ruamel scalars are str/int/float subclasses: turn them into plain Python values."""
    for t in (bool, int, float, str):
        if isinstance(value, t):
            return t(value)
    return value


def known_encoding(name: str) -> bool:
    import codecs

    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True



class OperationParser:
    """Collects problems with their lines while it parses; `config._Parser` adds the top level."""

    def __init__(self, path: str):
        self.path = path
        self.problems: list[Problem] = []

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(line, message))

    def unknown_keys(self, node: CommentedMap, allowed: Iterable[str], where: str) -> None:
        allowed = [a.lstrip("!") for a in allowed]
        for key in node:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                extra = f"; did you mean '{hint[0]}'?" if hint else f"; expected one of: {', '.join(allowed)}"
                self.problem(line_of(node, key), f"unknown key '{key}' in {where}{extra}")

    # -- top level -------------------------------------------------------------------------
    # -- operations ------------------------------------------------------------------------
    def operation(self, index: int, node: Any, line: int) -> Operation | None:
        if not isinstance(node, CommentedMap):
            self.problem(line, f"operation {index} must be a mapping with 'type' and 'action'")
            return None
        line = line_of(node) or line
        typ, action = node.get("type"), node.get("action")
        if (typ, action) not in OPERATION_KEYS:
            known = ", ".join(f"{t} {a}" for t, a in OPERATION_KEYS)
            self.problem(line, f"operation {index}: type '{typ}' with action '{action}' is not "
                               f"supported; supported: {known}")
            return None
        keys = OPERATION_KEYS[(typ, action)]
        where = f"operation {index} ({typ} {action})"
        self.unknown_keys(node, COMMON_KEYS + keys, where)
        for key in keys:
            if key.startswith("!") and key[1:] not in node:
                self.problem(line, f"{where}: '{key[1:]}' is required")
        identifiers: Fields = ()
        if "identifiers" in node:
            identifiers = self.identifiers(node["identifiers"], line_of(node, "identifiers") or line,
                                           typ, where)
        when = node.get("when")
        if when is not None and not isinstance(when, str):
            self.problem(line_of(node, "when"), f"{where}: 'when' names a column")
            when = None
        timestamp, now = None, node.get("timestamp") == "now"
        if "timestamp" in node and not now:
            timestamp = self.value(node["timestamp"], line_of(node, "timestamp"), f"{where} timestamp",
                                   default_as="timestamp")
        elif typ == "person" and action in EVENT_ACTIONS and not now:
            self.problem(line, f"{where}: no 'timestamp:', so every event would be sent as "
                               "happening now, and events of the last 72 hours can trigger "
                               "campaigns: map the column with each event's time (timestamp: "
                               "created_at), or write 'timestamp: now' to send them as now "
                               "(a column named 'now' is {column: now})")
        name = None
        if "name" in node:
            name = self.value(node["name"], line_of(node, "name"), f"{where} name")
        attributes = self.fields(node.get("attributes"), line_of(node, "attributes"),
                                 f"{where} attributes")
        rest, exclude, nulls = self.attribute_options(node, where)
        relationships = self.relationships(node.get("relationships"),
                                           line_of(node, "relationships"), typ, where, action)
        dedupe_mode, dedupe_column = self.dedupe(node, where)
        extra = self.specific(node, typ, action, where, line, name, attributes)
        return Operation(
            index=index, type=typ, action=action, line=line, identifiers=identifiers, when=when,
            timestamp=timestamp, timestamp_now=now, attributes=attributes, rest=rest, exclude=tuple(exclude),
            nulls=nulls, relationships=relationships, name=name, dedupe_id=dedupe_mode,
            dedupe_column=dedupe_column, **extra,
        )

    def attribute_options(self, node: CommentedMap, where: str) -> tuple[bool, list[str], str]:
        """rest (bool), exclude (column names), nulls (skip or clear)."""
        rest = node.get("rest", False)
        if not isinstance(rest, bool):
            self.problem(line_of(node, "rest"), f"{where}: 'rest' must be true or false")
            rest = False
        exclude = node.get("exclude", [])
        if isinstance(exclude, str):
            exclude = [exclude]
        if not isinstance(exclude, list) or not all(isinstance(e, str) for e in exclude):
            self.problem(line_of(node, "exclude"), f"{where}: 'exclude' is a list of column names")
            exclude = []
        nulls = node.get("nulls", "skip")
        if nulls not in ("skip", "clear"):
            self.problem(line_of(node, "nulls"), f"{where}: 'nulls' must be skip or clear")
            nulls = "skip"
        return rest, exclude, nulls

    def dedupe(self, node: CommentedMap, where: str) -> tuple[str, str | None]:
        """dedupe_id: (auto | auto-v1 | none | column, the column)."""
        dedupe = node.get("dedupe_id", "auto")
        if dedupe is None or dedupe is False or dedupe == "none":
            return "none", None
        if dedupe in ID_SCHEMES:
            return dedupe, None
        if isinstance(dedupe, str):
            return "column", dedupe
        self.problem(line_of(node, "dedupe_id"), f"{where}: dedupe_id is auto, auto-v1, none or a column")
        return "auto", None

    def specific(self, node: CommentedMap, typ: str, action: str, where: str, line: int,
                 name: Value | None, attributes: Fields) -> dict[str, Any]:
        """The keys only some operations have: device, merge, delivery, segment, form."""
        extra: dict[str, Any] = {}
        if "device" in node:
            extra["device"] = self.device(node["device"], line_of(node, "device"), action, where)
        for key in ("primary", "secondary"):
            if key in node:
                extra[key] = self.identifiers(node[key], line_of(node, key), "person",
                                              f"{where} {key}")
        for key in ("segment_id", "form_id"):
            if key in node:
                extra[key] = self.value(node[key], line_of(node, key), f"{where} {key}")
        if "data" in node:
            extra["data"] = self.fields(node["data"], line_of(node, "data"), f"{where} data")
            keys = [k for k, _ in extra["data"]]
            if "id" not in keys and "email" not in keys and not node.get("rest"):
                self.problem(line_of(node, "data"), f"{where}: form data must include 'id' or "
                                                  "'email' to identify the person")
        if typ == "delivery":
            if name is not None and name.literal is not None \
                    and name.literal not in DELIVERY_EVENTS:
                self.problem(name.line, f"{where}: delivery event name '{name.literal}' is not "
                                        f"one of {', '.join(DELIVERY_EVENTS)}")
            if "device_token" not in [k for k, _ in attributes]:
                self.problem(line_of(node, "attributes") or line,
                             f"{where}: attributes.device_token is required for delivery events")
        return extra

    def device(self, node: Any, line: int, action: str, where: str) -> Device | None:
        if not isinstance(node, CommentedMap):
            self.problem(line, f"{where}: 'device' is a mapping, e.g. {{token: device_token, "
                               "platform: platform}")
            return None
        allowed = ("token",) if action == "delete_device" else (
            "token", "platform", "last_used", "attributes")
        self.unknown_keys(node, allowed, f"{where} device")
        if "token" not in node:
            self.problem(line, f"{where}: device.token is required")
            return None
        token = self.value(node["token"], line_of(node, "token"), f"{where} device.token")
        platform = last_used = None
        if "platform" in node:
            platform = self.value(node["platform"], line_of(node, "platform"),
                                  f"{where} device.platform")
            if platform.literal is not None and platform.literal not in PLATFORMS:
                self.problem(platform.line, f"{where}: device.platform is ios or android")
        elif action == "add_device":
            self.problem(line, f"{where}: device.platform is required (ios or android)")
        if "last_used" in node:
            last_used = self.value(node["last_used"], line_of(node, "last_used"),
                                   f"{where} device.last_used", default_as="timestamp")
        attrs = self.fields(node.get("attributes"), line_of(node, "attributes"),
                            f"{where} device.attributes")
        return Device(token, platform, last_used, attrs)

    def identifiers(self, node: Any, line: int, kind: str, where: str) -> Fields:
        """Identifiers of a kind: person, object, delivery, segment or anonymous."""
        if not isinstance(node, CommentedMap) or not node:
            example = {"object": "{object_type_id: {value: \"1\"}, object_id: company_id}",
                       "delivery": "{id: delivery_id}",
                       "anonymous": "{anonymous_id: anonymous_id}"}.get(kind, "{id: user_id}")
            self.problem(line, f"{where}: identifiers are required, e.g. {example}")
            return ()
        fields = self.fields(node, line, f"{where} identifiers")
        keys = [k for k, _ in fields]
        if kind == "object":
            if keys != ["cio_object_id"] and sorted(keys) != sorted(OBJECT_IDS):
                self.problem(line, f"{where}: object identifiers are object_type_id and "
                                   "object_id (or cio_object_id alone)")
        else:
            allowed = IDENTIFIER_KEYS[kind]
            for k in keys:
                if k not in allowed:
                    self.problem(line_of(node, k), f"{where}: {kind} identifier '{k}' is not one "
                                                 f"of {', '.join(allowed)}")
        for k, v in fields:
            if v.as_ not in (None, "string"):
                self.problem(v.line, f"{where}: identifier '{k}' is sent as a string; "
                                     f"drop 'as: {v.as_}'")
            if k == "object_type_id" and v.literal is not None and not str(v.literal).isdigit():
                self.problem(v.line, f"{where}: object_type_id is a number as a string, "
                                     "like {value: \"1\"}")
        return fields

    def relationships(self, node: Any, line: int, typ: str, where: str,
                      action: str = "") -> tuple[Relationship, ...]:
        if node is None:
            return ()
        if not isinstance(node, CommentedSeq) or not node:
            self.problem(line, f"{where}: 'relationships' is a non-empty list of "
                               "{identifiers: ..., attributes: ...}")
            return ()
        other = "object" if typ == "person" else "person"
        if action == "identify_anonymous":
            other = "anonymous"
        out = []
        for i, item in enumerate(node):
            iline = line_of(node, i)
            rwhere = f"{where} relationship {i}"
            if not isinstance(item, CommentedMap):
                self.problem(iline, f"{rwhere}: expected {{identifiers: ..., attributes: ...}}")
                continue
            self.unknown_keys(item, ("identifiers", "attributes"), rwhere)
            ids = self.identifiers(item.get("identifiers"), line_of(item, "identifiers") or iline,
                                   other, rwhere)
            attrs = self.fields(item.get("attributes"), line_of(item, "attributes"),
                                f"{rwhere} attributes")
            out.append(Relationship(ids, attrs, iline))
        return tuple(out)

    def fields(self, node: Any, line: int, where: str) -> Fields:
        if node is None:
            return ()
        if not isinstance(node, CommentedMap):
            self.problem(line, f"{where} must be a mapping of name: column")
            return ()
        out = []
        for key, raw in node.items():
            kline = line_of(node, key)
            name = str(key)
            if len(name.encode()) > MAX_NAME_BYTES:
                self.problem(kline, f"{where}: name '{name[:40]}...' is {len(name.encode())} "
                                    f"bytes; the limit is {MAX_NAME_BYTES}")
            out.append((name, self.value(raw, kline, f"{where} '{name}'")))
        return tuple(out)

    def value(self, raw: Any, line: int, where: str, default_as: str | None = None) -> Value:
        if isinstance(raw, str):
            return Value(column=raw, as_=default_as, line=line)
        if isinstance(raw, CommentedMap):
            self.unknown_keys(raw, ("column", "value", "as", *VALUE_KEYS), where)
            as_ = raw.get("as", default_as)
            if as_ is not None and as_ not in CONVERSIONS:
                hint = difflib.get_close_matches(str(as_), CONVERSIONS, n=1)
                extra = f"; did you mean '{hint[0]}'?" if hint else ""
                self.problem(line_of(raw, "as") or line,
                             f"{where}: 'as: {as_}' is not one of {', '.join(CONVERSIONS)}{extra}")
                as_ = None
            if ("column" in raw) == ("value" in raw):
                self.problem(line, f"{where}: give either 'column' or 'value'")
                return Value(line=line)
            if "column" in raw:
                if not isinstance(raw["column"], str):
                    self.problem(line, f"{where}: 'column' names a column")
                    return Value(line=line)
                return Value(column=raw["column"], as_=as_, line=line,
                             time=time_format(raw, as_, where, line_of, self.problem),
                             number=number_format(raw, as_, where, line_of, self.problem),
                             null_values=null_values(raw.get("null_values"),
                                                     line_of(raw, "null_values"), where,
                                                     self.problem))
            literal = raw["value"]
            if isinstance(literal, CommentedMap | CommentedSeq) or literal is None:
                self.problem(line, f"{where}: 'value' must be a string, number or boolean")
                return Value(line=line)
            return Value(literal=plain(literal), as_=None, line=line)
        self.problem(line, f"{where}: expected a column name, {{column: ..., as: ...}} or "
                           f"{{value: ...}}, not {raw!r}")
        return Value(line=line)
