"""The mapping file: YAML -> frozen dataclasses, with every problem reported at once with its line.

Pure apart from reading the file: `load_mapping(path)` reads it, `parse_mapping(text, path)` does the
rest. `check_columns` compares a parsed mapping with an input's columns ("did you mean").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from backfill.contract import CsvOptions
from backfill.errors import MappingError, Problem

CONVERSIONS = ("string", "int", "float", "bool", "timestamp", "json")
FORMATS = ("csv", "ndjson", "parquet")
PERSON_IDS = ("id", "email", "cio_id", "phone")
OBJECT_IDS = ("object_type_id", "object_id")
MAX_NAME_BYTES = 150

ATTRIBUTE_KEYS = ("attributes", "rest", "exclude", "nulls")
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
class Value:
    """Where a field's value comes from: a column (optionally converted) or a literal."""

    column: str | None = None
    literal: Any = None
    as_: str | None = None
    line: int = 0

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
    attributes: Fields = ()
    rest: bool = False
    exclude: tuple[str, ...] = ()
    nulls: str = "skip"
    relationships: tuple[Relationship, ...] = ()
    name: Value | None = None
    dedupe_id: str = "auto"  # "auto" | "none" | "column"
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
        return self.type == "person" and self.action in ("event", "screen", "page")

    @property
    def label(self) -> str:
        return f"operation {self.index} ({self.type} {self.action})"


@dataclass(frozen=True)
class Source:
    paths: tuple[str, ...] = ()
    format: str | None = None
    csv: CsvOptions = field(default_factory=CsvOptions)


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


def load_mapping(path: str | Path) -> Mapping:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(str(path), [Problem(0, "the mapping file does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(str(path), [Problem(0, f"cannot read the mapping: {exc}")]) from None
    return parse_mapping(text, str(path))


def parse_mapping(text: str, path: str = "<mapping>") -> Mapping:
    """Parse and check a mapping; raise MappingError listing every problem found."""
    yaml = YAML(typ="rt", pure=True)
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise MappingError(path, [Problem(line, f"YAML syntax error: {exc.problem}")]) from None
    except Exception as exc:  # ruamel raises a few unmarked error types on odd input
        raise MappingError(path, [Problem(0, f"YAML error: {exc}")]) from None
    parser = _Parser(path)
    mapping = parser.mapping(doc, text)
    if parser.problems:
        raise MappingError(path, sorted(parser.problems, key=lambda p: p.line))
    return mapping


def _line(node: Any, key: Any = None) -> int:
    """1-based line of a mapping key (or of the node itself)."""
    try:
        if key is not None and isinstance(node, CommentedMap):
            return node.lc.key(key)[0] + 1
        if key is not None and isinstance(node, CommentedSeq):
            return node.lc.item(key)[0] + 1
        return node.lc.line + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return 0


class _Parser:
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
                self.problem(_line(node, key), f"unknown key '{key}' in {where}{extra}")

    # -- top level -------------------------------------------------------------------------
    def mapping(self, doc: Any, text: str) -> Mapping:
        if not isinstance(doc, CommentedMap):
            self.problem(1, "the mapping must be a YAML mapping with 'version' and 'operations'")
            return Mapping(self.path, Source(), Api(), ())
        self.unknown_keys(doc, ("version", "source", "api", "operations"), "the mapping")
        if doc.get("version") != 1:
            self.problem(_line(doc, "version") or 1, "'version: 1' is required")
        source = self.source(doc.get("source"), _line(doc, "source"))
        api = self.api(doc.get("api"), _line(doc, "api"))
        ops = doc.get("operations")
        operations: list[Operation] = []
        if not isinstance(ops, CommentedSeq) or not ops:
            self.problem(_line(doc, "operations") or 1, "'operations' must be a non-empty list")
        else:
            for i, node in enumerate(ops):
                op = self.operation(i, node, _line(ops, i))
                if op is not None:
                    operations.append(op)
        v1 = [op for op in operations if op.is_v1]
        if v1 and len(operations) > 1:
            self.problem(v1[0].line, f"{v1[0].label}: segment and form operations use v1 "
                         "endpoints, one request per segment batch or form: put each in a "
                         "mapping of its own")
        return Mapping(self.path, source, api, tuple(operations), text)

    def source(self, node: Any, line: int) -> Source:
        if node is None:
            return Source()
        if not isinstance(node, CommentedMap):
            self.problem(line, "'source' must be a mapping (path, format, csv)")
            return Source()
        self.unknown_keys(node, ("path", "format", "csv"), "source")
        raw = node.get("path")
        paths: tuple[str, ...] = ()
        if isinstance(raw, str):
            paths = (raw,)
        elif isinstance(raw, CommentedSeq) and all(isinstance(p, str) for p in raw):
            paths = tuple(raw)
        elif raw is not None:
            self.problem(_line(node, "path"), "source.path must be a path, a glob or a list of them")
        fmt = node.get("format")
        if fmt is not None and fmt not in FORMATS:
            self.problem(_line(node, "format"), f"source.format must be one of {', '.join(FORMATS)}")
            fmt = None
        return Source(paths, fmt, self.csv_options(node.get("csv"), _line(node, "csv")))

    def csv_options(self, node: Any, line: int) -> CsvOptions:
        if node is None:
            return CsvOptions()
        if not isinstance(node, CommentedMap):
            self.problem(line, "source.csv must be a mapping (delimiter, quote, encoding, header)")
            return CsvOptions()
        self.unknown_keys(node, ("delimiter", "quote", "encoding", "header"), "source.csv")
        opts = CsvOptions()
        delimiter = node.get("delimiter", opts.delimiter)
        if delimiter == "\\t":
            delimiter = "\t"
        if not isinstance(delimiter, str) or len(delimiter.encode()) != 1:
            self.problem(_line(node, "delimiter"), "source.csv.delimiter must be one ASCII character")
            delimiter = opts.delimiter
        quote = node.get("quote", opts.quote)
        if not isinstance(quote, str) or len(quote.encode()) != 1:
            self.problem(_line(node, "quote"), "source.csv.quote must be one ASCII character")
            quote = opts.quote
        encoding = node.get("encoding", opts.encoding)
        if not isinstance(encoding, str) or not _known_encoding(encoding):
            self.problem(
                _line(node, "encoding"),
                f"source.csv.encoding '{encoding}' is not an encoding Python knows "
                "(utf8, latin-1, cp1252, utf-16 ...)",
            )
            encoding = opts.encoding
        header = node.get("header", True)
        if not isinstance(header, bool):
            self.problem(_line(node, "header"), "source.csv.header must be true or false")
            header = True
        return CsvOptions(delimiter, quote, encoding, header)

    def api(self, node: Any, line: int) -> Api:
        if node is None:
            return Api()
        if not isinstance(node, CommentedMap):
            self.problem(line, "'api' must be a mapping (region, rate, concurrency, endpoint)")
            return Api()
        self.unknown_keys(node, ("region", "rate", "concurrency", "endpoint"), "api")
        region = node.get("region")
        if region is not None and region not in ("us", "eu", "auto"):
            self.problem(_line(node, "region"), "api.region must be us, eu or auto")
            region = None
        rate = node.get("rate")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)
                                 or rate <= 0):
            self.problem(_line(node, "rate"), "api.rate must be a positive number of requests/s")
            rate = None
        conc = node.get("concurrency")
        if conc is not None and (isinstance(conc, bool) or not isinstance(conc, int) or conc < 1):
            self.problem(_line(node, "concurrency"), "api.concurrency must be a positive integer")
            conc = None
        endpoint = node.get("endpoint")
        if endpoint is not None and not isinstance(endpoint, str):
            self.problem(_line(node, "endpoint"), "api.endpoint must be a URL")
            endpoint = None
        return Api(region, float(rate) if rate else None, conc, endpoint)

    # -- operations ------------------------------------------------------------------------
    def operation(self, index: int, node: Any, line: int) -> Operation | None:
        if not isinstance(node, CommentedMap):
            self.problem(line, f"operation {index} must be a mapping with 'type' and 'action'")
            return None
        line = _line(node) or line
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
            identifiers = self.identifiers(node["identifiers"], _line(node, "identifiers") or line,
                                           typ, where)
        when = node.get("when")
        if when is not None and not isinstance(when, str):
            self.problem(_line(node, "when"), f"{where}: 'when' names a column")
            when = None
        timestamp = None
        if "timestamp" in node:
            timestamp = self.value(node["timestamp"], _line(node, "timestamp"), f"{where} timestamp",
                                   default_as="timestamp")
        name = None
        if "name" in node:
            name = self.value(node["name"], _line(node, "name"), f"{where} name")
        attributes = self.fields(node.get("attributes"), _line(node, "attributes"),
                                 f"{where} attributes")
        rest = node.get("rest", False)
        if not isinstance(rest, bool):
            self.problem(_line(node, "rest"), f"{where}: 'rest' must be true or false")
            rest = False
        exclude = node.get("exclude", [])
        if isinstance(exclude, str):
            exclude = [exclude]
        if not isinstance(exclude, list) or not all(isinstance(e, str) for e in exclude):
            self.problem(_line(node, "exclude"), f"{where}: 'exclude' is a list of column names")
            exclude = []
        nulls = node.get("nulls", "skip")
        if nulls not in ("skip", "clear"):
            self.problem(_line(node, "nulls"), f"{where}: 'nulls' must be skip or clear")
            nulls = "skip"
        relationships = self.relationships(node.get("relationships"),
                                           _line(node, "relationships"), typ, where, action)
        dedupe = node.get("dedupe_id", "auto")
        dedupe_mode, dedupe_column = "auto", None
        if dedupe is None or dedupe is False or dedupe == "none":
            dedupe_mode = "none"
        elif dedupe == "auto":
            dedupe_mode = "auto"
        elif isinstance(dedupe, str):
            dedupe_mode, dedupe_column = "column", dedupe
        else:
            self.problem(_line(node, "dedupe_id"), f"{where}: dedupe_id is auto, none or a column")
        extra = self.specific(node, typ, action, where, line, name, attributes)
        return Operation(
            index=index, type=typ, action=action, line=line, identifiers=identifiers, when=when,
            timestamp=timestamp, attributes=attributes, rest=rest, exclude=tuple(exclude),
            nulls=nulls, relationships=relationships, name=name, dedupe_id=dedupe_mode,
            dedupe_column=dedupe_column, **extra,
        )

    def specific(self, node: CommentedMap, typ: str, action: str, where: str, line: int,
                 name: Value | None, attributes: Fields) -> dict[str, Any]:
        """The keys only some operations have: device, merge, delivery, segment, form."""
        extra: dict[str, Any] = {}
        if "device" in node:
            extra["device"] = self.device(node["device"], _line(node, "device"), action, where)
        for key in ("primary", "secondary"):
            if key in node:
                extra[key] = self.identifiers(node[key], _line(node, key), "person",
                                              f"{where} {key}")
        for key in ("segment_id", "form_id"):
            if key in node:
                extra[key] = self.value(node[key], _line(node, key), f"{where} {key}")
        if "data" in node:
            extra["data"] = self.fields(node["data"], _line(node, "data"), f"{where} data")
            keys = [k for k, _ in extra["data"]]
            if "id" not in keys and "email" not in keys and not node.get("rest"):
                self.problem(_line(node, "data"), f"{where}: form data must include 'id' or "
                                                  "'email' to identify the person")
        if typ == "delivery":
            if name is not None and name.literal is not None \
                    and name.literal not in DELIVERY_EVENTS:
                self.problem(name.line, f"{where}: delivery event name '{name.literal}' is not "
                                        f"one of {', '.join(DELIVERY_EVENTS)}")
            if "device_token" not in [k for k, _ in attributes]:
                self.problem(_line(node, "attributes") or line,
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
        token = self.value(node["token"], _line(node, "token"), f"{where} device.token")
        platform = last_used = None
        if "platform" in node:
            platform = self.value(node["platform"], _line(node, "platform"),
                                  f"{where} device.platform")
            if platform.literal is not None and platform.literal not in PLATFORMS:
                self.problem(platform.line, f"{where}: device.platform is ios or android")
        elif action == "add_device":
            self.problem(line, f"{where}: device.platform is required (ios or android)")
        if "last_used" in node:
            last_used = self.value(node["last_used"], _line(node, "last_used"),
                                   f"{where} device.last_used", default_as="timestamp")
        attrs = self.fields(node.get("attributes"), _line(node, "attributes"),
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
                    self.problem(_line(node, k), f"{where}: {kind} identifier '{k}' is not one "
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
            iline = _line(node, i)
            rwhere = f"{where} relationship {i}"
            if not isinstance(item, CommentedMap):
                self.problem(iline, f"{rwhere}: expected {{identifiers: ..., attributes: ...}}")
                continue
            self.unknown_keys(item, ("identifiers", "attributes"), rwhere)
            ids = self.identifiers(item.get("identifiers"), _line(item, "identifiers") or iline,
                                   other, rwhere)
            attrs = self.fields(item.get("attributes"), _line(item, "attributes"),
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
            kline = _line(node, key)
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
            self.unknown_keys(raw, ("column", "value", "as"), where)
            as_ = raw.get("as", default_as)
            if as_ is not None and as_ not in CONVERSIONS:
                hint = difflib.get_close_matches(str(as_), CONVERSIONS, n=1)
                extra = f"; did you mean '{hint[0]}'?" if hint else ""
                self.problem(_line(raw, "as") or line,
                             f"{where}: 'as: {as_}' is not one of {', '.join(CONVERSIONS)}{extra}")
                as_ = None
            if ("column" in raw) == ("value" in raw):
                self.problem(line, f"{where}: give either 'column' or 'value'")
                return Value(line=line)
            if "column" in raw:
                if not isinstance(raw["column"], str):
                    self.problem(line, f"{where}: 'column' names a column")
                    return Value(line=line)
                return Value(column=raw["column"], as_=as_, line=line)
            literal = raw["value"]
            if isinstance(literal, CommentedMap | CommentedSeq) or literal is None:
                self.problem(line, f"{where}: 'value' must be a string, number or boolean")
                return Value(line=line)
            return Value(literal=_plain(literal), as_=None, line=line)
        self.problem(line, f"{where}: expected a column name, {{column: ..., as: ...}} or "
                           f"{{value: ...}}, not {raw!r}")
        return Value(line=line)


def _plain(value: Any) -> Any:
    """ruamel scalars are str/int/float subclasses: turn them into plain Python values."""
    for t in (bool, int, float, str):
        if isinstance(value, t):
            return t(value)
    return value


def _known_encoding(name: str) -> bool:
    import codecs

    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def check_columns(mapping: Mapping, columns: list[str], input_name: str) -> list[Problem]:
    """Problems for every column the mapping names that the input lacks, with a 'did you mean'."""
    problems = []
    for name, line in mapping.columns_used().items():
        if name in columns:
            continue
        hint = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
        if not hint:
            lowered = {c.lower(): c for c in columns}
            hint = [lowered[name.lower()]] if name.lower() in lowered else []
        extra = f"; did you mean '{hint[0]}'?" if hint else ""
        problems.append(Problem(line, f"column '{name}' is not in {input_name}{extra}"))
    return problems
