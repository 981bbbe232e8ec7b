"""The mapping's model: frozen dataclasses for the YAML's parts, the keys each operation takes,
and `check_columns`, which compares a mapping with an input's columns ("did you mean"). Pure."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from backfill.contract import CsvOptions
from backfill.errors import Problem

CONVERSIONS = ("string", "int", "float", "bool", "timestamp", "json")
FORMATS = ("csv", "ndjson", "parquet")
RECENT_EVENTS = ("send", "skip", "reject")
PERSON_IDS = ("id", "email", "cio_id", "phone")
OBJECT_IDS = ("object_type_id", "object_id")
MAX_NAME_BYTES = 150

ATTRIBUTE_KEYS = ("attributes", "rest", "exclude", "nulls")
# the `dedupe_id` values that derive an event id from its content (mapping/eventid.py)
ID_SCHEMES = ("auto", "auto-v1")
EVENT_KEYS = ("!identifiers", "!name", "timestamp", *ATTRIBUTE_KEYS, "dedupe_id")
RELATIONSHIP_KEYS = ("!identifiers", "!relationships")
# Keys each (type, action) accepts beyond type/action/when; "!" marks a required key.
OPERATION_KEYS: dict[tuple[str, str], tuple[str, ...]] = {
    ("person", "identify"): ("!identifiers", "timestamp", *ATTRIBUTE_KEYS, "relationships"),
    ("person", "delete"): ("!identifiers",),
    ("person", "event"): EVENT_KEYS,
    ("person", "screen"): EVENT_KEYS,
    ("person", "page"): EVENT_KEYS,
    ("person", "add_relationships"): RELATIONSHIP_KEYS,
    ("person", "delete_relationships"): RELATIONSHIP_KEYS,
    ("person", "add_device"): ("!identifiers", "!device"),
    ("person", "delete_device"): ("!identifiers", "!device"),
    ("person", "merge"): ("!primary", "!secondary"),
    ("person", "suppress"): ("!identifiers",),
    ("person", "unsuppress"): ("!identifiers",),
    ("object", "identify"): ("!identifiers", *ATTRIBUTE_KEYS, "relationships"),
    ("object", "identify_anonymous"): ("!identifiers", *ATTRIBUTE_KEYS, "relationships"),
    ("object", "delete"): ("!identifiers",),
    ("object", "add_relationships"): RELATIONSHIP_KEYS,
    ("object", "delete_relationships"): RELATIONSHIP_KEYS,
    ("delivery", "event"): ("!identifiers", "!name", "timestamp", *ATTRIBUTE_KEYS),
    ("segment", "add_customers"): ("!segment_id", "!identifiers"),
    ("segment", "remove_customers"): ("!segment_id", "!identifiers"),
    ("form", "submit"): ("!form_id", "!data", "rest", "exclude"),
}
COMMON_KEYS = ("type", "action", "when")
V1_TYPES = ("segment", "form")
EVENT_ACTIONS = ("event", "screen", "page")  # of a person: events that can trigger campaigns
DELIVERY_EVENTS = ("opened", "converted", "delivered")
PLATFORMS = ("ios", "android")
# identifier kinds: the keys each accepts
IDENTIFIER_KEYS = {
    "person": PERSON_IDS,
    "segment": ("id", "email", "cio_id"),
    "delivery": ("id",),
    "anonymous": ("anonymous_id",),
}


@dataclass(frozen=True)
class TimeFormat:
    """How `as: timestamp` reads text beyond its built-in forms (`format:`, `day_first:`,
    `timezone:` beside `as: timestamp`)."""

    formats: tuple[str, ...] = ()  # strftime patterns, tried in order before the built-in forms
    day_first: bool | None = None  # 03/04/2024: True reads 3 April, False March 4, None neither
    timezone: str | None = None  # for values without an offset (default UTC)


@dataclass(frozen=True)
class NumberFormat:
    """How `as: int|float` reads text written for people (`thousands:`, `decimal:`,
    `currency:` beside the `as:`): "1,234.50", "1.234,50", "$1,234.50", "1 234,5 EUR"."""

    thousands: str | None = None  # the digit-group separator, checked: "1,2,3" is not a number
    decimal: str = "."
    currency: bool = False  # a currency sign (any: $, EUR's sign, ...) or code (USD) is dropped


@dataclass(frozen=True)
class Value:
    """Where a field's value comes from: a column (optionally converted) or a literal."""

    column: str | None = None
    literal: Any = None
    as_: str | None = None
    line: int = 0
    time: TimeFormat | None = None
    null_values: tuple[str, ...] = ()  # texts of this column read as empty
    number: NumberFormat | None = None  # `thousands:`, `decimal:`, `currency:`

    @property
    def label(self) -> str:
        return f"column '{self.column}'" if self.column is not None else "a literal"


Fields = tuple[tuple[str, Value], ...]


@dataclass(frozen=True)
class Relationship:
    identifiers: Fields
    attributes: Fields = ()
    line: int = 0


@dataclass(frozen=True)
class Device:
    token: Value
    platform: Value | None = None
    last_used: Value | None = None
    attributes: Fields = ()


@dataclass(frozen=True)
class Operation:
    index: int
    type: str
    action: str
    line: int
    identifiers: Fields = ()
    when: str | None = None
    timestamp: Value | None = None
    timestamp_now: bool = False  # `timestamp: now`: sent without one, stamped now by the API
    attributes: Fields = ()
    rest: bool = False
    exclude: tuple[str, ...] = ()
    nulls: str = "skip"
    relationships: tuple[Relationship, ...] = ()
    name: Value | None = None
    dedupe_id: str = "auto"  # one of ID_SCHEMES | "none" | "column"
    dedupe_column: str | None = None
    device: Device | None = None
    primary: Fields = ()
    secondary: Fields = ()
    segment_id: Value | None = None
    form_id: Value | None = None
    data: Fields = ()

    @property
    def is_v1(self) -> bool:
        return self.type in V1_TYPES

    @property
    def is_event(self) -> bool:
        return self.type == "person" and self.action in EVENT_ACTIONS

    @property
    def label(self) -> str:
        return f"operation {self.index} ({self.type} {self.action})"


@dataclass(frozen=True)
class Source:
    paths: tuple[str, ...] = ()
    format: str | None = None
    csv: CsvOptions = field(default_factory=CsvOptions)
    database: str | None = None  # a postgresql:// URL, with `query` (and `resume_key`)
    query: str | None = None
    resume_key: tuple[str, ...] = ()
    null_values: tuple[str, ...] = ()  # texts read as empty in every text column


@dataclass(frozen=True)
class Api:
    region: str | None = None
    rate: float | None = None
    concurrency: int | None = None
    endpoint: str | None = None


@dataclass(frozen=True)
class Mapping:
    path: str
    source: Source
    api: Api
    operations: tuple[Operation, ...]
    text: str = ""
    recent_events: str = "send"  # send | skip | reject: events from the last 72 hours

    def columns_used(self) -> dict[str, int]:
        """Every column the mapping names, with the YAML line that names it."""
        used: dict[str, int] = {}
        for op in self.operations:
            for value in values_of(op):
                if value.column is not None:
                    used.setdefault(value.column, value.line)
            if op.when:
                used.setdefault(op.when, op.line)
            if op.dedupe_column:
                used.setdefault(op.dedupe_column, op.line)
            for name in op.exclude:
                used.setdefault(name, op.line)
        return used


def with_id_scheme(mapping: Mapping, scheme: str) -> Mapping:
    """`mapping` with its `dedupe_id: auto` events using `scheme` (one of ID_SCHEMES) instead."""
    return replace(mapping, operations=tuple(
        replace(op, dedupe_id=scheme) if op.dedupe_id == "auto" else op
        for op in mapping.operations))


def null_markers(mapping: Mapping) -> dict[str | None, frozenset[str]]:
    """The texts read as empty: per column (the source's and the column's own), and under
    `None` those of every other text column."""
    markers: dict[str | None, set[str]] = {None: set(mapping.source.null_values)}
    for op in mapping.operations:
        for value in values_of(op):
            if value.column is not None and value.null_values:
                markers.setdefault(value.column, set(markers[None])).update(value.null_values)
    return {name: frozenset(texts) for name, texts in markers.items() if texts}


def values_of(op: Operation) -> Iterable[Value]:
    """Every value an operation names, wherever it is."""
    yield from (v for _, v in op.identifiers)
    yield from (v for _, v in op.attributes)
    yield from (v for _, v in op.primary)
    yield from (v for _, v in op.secondary)
    yield from (v for _, v in op.data)
    if op.device is not None:
        yield from (v for v in (op.device.token, op.device.platform, op.device.last_used) if v)
        yield from (v for _, v in op.device.attributes)
    for v in (op.segment_id, op.form_id):
        if v is not None:
            yield v
    for rel in op.relationships:
        yield from (v for _, v in rel.identifiers)
        yield from (v for _, v in rel.attributes)
    if op.timestamp is not None:
        yield op.timestamp
    if op.name is not None:
        yield op.name


def check_columns(mapping: Mapping, columns: list[str], input_name: str,
                  schema: dict[str, Any] | None = None) -> list[Problem]:
    """Problems for every column the mapping names that the input lacks, with a 'did you mean'.
    A path into nested values (`customer.id`, `mapping/paths.py`) is checked against `schema`
    (the columns' polars types) where it is known, else only its root is."""
    from backfill.mapping import paths

    problems = []
    for name, line in mapping.columns_used().items():
        if name in columns:
            continue
        each = name.partition("[]")[0] if "[]" in name else None  # a list's elements
        if each in columns:
            import polars as pl

            kind = (schema or {}).get(each)
            if kind is not None and not isinstance(kind, pl.List | pl.Array):
                problems.append(Problem(line, f"column '{name}': '{each}' is not a list in "
                                              f"{input_name}"))
            continue
        if paths.root_of(name, set(columns)) is not None:
            got = paths.resolve(name, schema) if schema is not None else None
            if isinstance(got, str):
                problems.append(Problem(line, f"column '{name}' in {input_name}: {got}"))
            continue
        steps = paths.split(name)
        first = str(steps[0]) if steps else name  # a path: its root mistyped
        hint = difflib.get_close_matches(first, columns, n=1, cutoff=0.6)
        if not hint:
            lowered = {c.lower(): c for c in columns}
            hint = [lowered[first.lower()]] if first.lower() in lowered else []
        shown = hint and (hint[0] + name[len(first):] if steps else hint[0])
        extra = f"; did you mean '{shown}'?" if hint else ""
        problems.append(Problem(line, f"column '{name}' is not in {input_name}{extra}"))
    return problems
