"""The mapping compiled for one input schema: each operation -> polars expressions for its JSON
members, the rows it applies to, and its reject reasons (mapping, limits). Pure.

`assemble.operation` builds an operation from its sections (`sections.py`: identity, device,
event, attributes, relationships; `v1.py`: segments and forms); this module holds what the
sections share: values with their conversions and failures, identifiers, `applies` (`when:`), and
the placeholders through which nested JSON texts are embedded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import polars as pl

from backfill.contract import LINE, ROW
from backfill.mapping import limits
from backfill.mapping.config import Mapping, Operation, Value, values_of
from backfill.mapping.convert import Wanted, convert, is_nested
from backfill.mapping.jsonbody import Body, Obj
from backfill.mapping.numbers import number_text

PREPARED = ("int", "float", "bool", "timestamp")  # text conversions computed once per chunk
INTERNAL = ("__json_", "__conv_")
SLASHED_HINT = ("day and month are ambiguous here: add day_first: true (or false) beside "
                "'as: timestamp', or format: '%m/%d/%Y'")
FORMAT_HINT = "add format: with its strftime pattern (such as '%d %b %Y %H:%M') beside 'as: timestamp'"
_ARTICLE = {"int": "an int", "float": "a float", "bool": "a bool", "timestamp": "a timestamp",
            "json": "JSON", "string": "a string"}


@dataclass
class Field:
    """One value as sent: its expression, what makes it fail, and how to measure it."""

    expr: pl.Expr
    failures: list[pl.Expr]
    size: pl.Expr | None
    nested_keys: tuple[str, ...] = ()
    is_json: bool = False  # `as: json` text, embedded through a placeholder


@dataclass
class CompiledOp:
    op: Operation
    body: Body | pl.Expr  # the JSON object's tree, or (v1 segment ids) the JSON text itself
    applies: pl.Expr  # rows this operation is made for
    mapping: pl.Expr
    limits: pl.Expr
    # (JSON text of a placeholder, the column whose JSON text replaces it), replaced last first
    placeholders: list[tuple[str, str]]
    timestamp: pl.Expr  # the event's timestamp (seconds) for its id, null when there is none
    path: pl.Expr | None = None  # v1 operations: the request path of each row
    # columns computed before the rest, in order, each once: relationships, embedded texts
    shared: list[pl.Expr] = field(default_factory=list)
    lists: list[Listed] = field(default_factory=list)  # JSON lists made before the body


@dataclass
class Listed:
    """A JSON list of objects (a row's relationships), made after the query from the objects'
    bodies, before the operation's own body: `[` the present ones, in order `]`, or null when
    none is. Each object's empty members are left out as in any body (`jsonbody.py`), with no
    regular expression over its text."""

    column: str  # the column of the list's text, which the operation's placeholder names
    items: list[tuple[Body, pl.Expr]]  # each object's body, and where it is (a named column)

    @property
    def leaves(self) -> list[pl.Expr]:
        """The columns the query makes for the list: the bodies' leaves, and where each is."""
        return [e for body, present in self.items for e in (*body.leaves, present)]

    def text(self, frame: pl.DataFrame) -> pl.Series:
        """The list's text per row of a frame holding the leaves."""
        present = [pl.col(p.meta.output_name()) for _, p in self.items]
        texts = [pl.when(p).then(body.encode(frame)) for (body, _), p in
                 zip(self.items, present, strict=True)]
        inner = texts[0] if len(texts) == 1 else \
            pl.concat_str(texts, separator=",", ignore_nulls=True)
        return frame.select(pl.when(pl.any_horizontal(present)).then(
            pl.concat_str([pl.lit("["), inner, pl.lit("]")])).alias(self.column)).to_series()


@dataclass
class Parts:
    """An operation being assembled: its JSON object and what the sections add to it."""

    obj: Obj
    mapping: list[pl.Expr] = field(default_factory=list)  # reasons of stage `mapping`
    limits: list[pl.Expr] = field(default_factory=list)  # reasons of stage `limits`
    # (JSON text of a placeholder, the column whose JSON text replaces it), replaced last first
    placeholders: list[tuple[str, str]] = field(default_factory=list)
    shared: list[pl.Expr] = field(default_factory=list)  # columns computed first, in order
    lists: list[Listed] = field(default_factory=list)  # JSON lists made before the body
    problems: list[str] = field(default_factory=list)  # mapping problems found by compiling
    timestamp: pl.Expr = field(default_factory=lambda: pl.lit(None, dtype=pl.Int64))


class Compiler:
    """Compiles the mapping for one input schema."""

    def __init__(self, mapping: Mapping, schema: pl.Schema):
        self.mapping = mapping
        self.schema = schema
        self.json_columns: dict[str, str] = {}  # source column -> prepared column
        self.converted: Wanted = {}  # (column, as, format) -> prepared column
        self.bodies = 0
        self.shares = 0
        self.first_reading: dict[str, int] = {}  # convert_texts' hint, chunk to chunk
        self.unread: dict[str, dict] = {}  # and its memo of odd values
        self.derived: set[str] = set()  # columns made from paths (`paths.with_paths`): no `rest`

    def dtype(self, column: str) -> pl.DataType:
        return self.schema.get(column, pl.String)

    def column(self, column: str) -> pl.Expr:
        if column in self.schema:
            return pl.col(column)
        return pl.lit(None, dtype=pl.String)  # absent from this chunk (sparse NDJSON)

    def value(self, v: Value, skip_empty: bool, where: str) -> Field:
        if v.column is None:
            lit = pl.lit(v.literal)
            size = pl.lit(len(str(v.literal).encode())) if isinstance(v.literal, str) else None
            return Field(lit, [], size)
        dtype = self.dtype(v.column)
        raw = self.column(v.column)
        if v.as_ == "json" and dtype == pl.String:
            prepared = self.json_columns.setdefault(v.column, f"__json_{len(self.json_columns)}")
            text = pl.col(prepared)
            failed = raw.is_not_null() & (raw.str.strip_chars() != "") & text.is_null()
            reason = self._failure(v, raw, failed, where)
            return Field(text, [reason], text.str.len_bytes(), is_json=True)
        if dtype == pl.String and v.number is not None:  # "1,234.50", "$5": made plain first
            expr, _ = convert(number_text(raw, v.number), dtype, v.as_)
            failed = raw.is_not_null() & (raw.str.strip_chars() != "") & expr.is_null()
        elif dtype == pl.String and v.as_ in PREPARED:
            name = self.converted.setdefault((v.column, v.as_, v.time),
                                             f"__conv_{len(self.converted)}")
            expr, failed = pl.col(name), pl.col(f"{name}_failed")
        else:
            expr, failed = convert(raw, dtype, v.as_, v.time)
        out_dtype = pl.String if v.as_ == "string" else (dtype if v.as_ in (None, "json") else None)
        if skip_empty and out_dtype == pl.String:
            expr = pl.when(expr != "").then(expr)
        failures = [] if v.as_ is None else [self._failure(v, raw, failed, where)]
        size = None
        nested: tuple[str, ...] = ()
        if out_dtype == pl.String:
            size = expr.str.len_bytes()
        elif out_dtype is not None and is_nested(out_dtype):
            size = pl.struct(expr.alias("v")).struct.json_encode().str.len_bytes() - 6
            nested = nested_keys(out_dtype)
        return Field(expr, failures, size, nested)

    def _failure(self, v: Value, raw: pl.Expr, failed: pl.Expr, where: str) -> pl.Expr:
        shown = raw.cast(pl.String).str.head(60)
        hint = pl.lit("")
        if v.as_ == "timestamp" and v.time is None and self.dtype(v.column) == pl.String:
            hint = pl.when(raw.str.contains(r"^\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}")).then(
                pl.lit(f"; {SLASHED_HINT}")).when(  # not for an ISO date that does not exist
                raw.str.contains(r"\d") & ~raw.str.contains(r"^\s*[-+]?\d{4}-\d\d-\d\d|^\s*[-+]?\d+\s*$")
            ).then(pl.lit(f"; {FORMAT_HINT}")).otherwise(pl.lit(""))
        return pl.when(failed).then(pl.format(
            "{} column '{}' value \"{}\" is not {}{}", pl.lit(where), pl.lit(v.column), shown,
            pl.lit(_ARTICLE.get(v.as_ or "", v.as_ or "")), hint,
        ))

    # -- identifiers ---------------------------------------------------------------------------
    def identifiers(self, fields, kind: str, where: str) -> tuple[Obj, pl.Expr, list[pl.Expr],
                                                                   pl.Expr]:
        """(object, present, limit reasons, missing reason) for person/object identifiers."""
        values = {}
        for name, v in fields:
            f = self.value(v, True, where)
            e = f.expr if v.column is None or self.dtype(v.column) == pl.String \
                else f.expr.cast(pl.String)
            values[name] = pl.when(e.str.strip_chars() != "").then(e)
        reasons = [limits.identifier_too_long(n, e, where and f"{where} ") for n, e in
                   values.items()]
        if kind == "person":
            # fallbacks: the first non-empty identifier wins, the others are dropped
            chosen: list[tuple[str, pl.Expr]] = []
            earlier: list[pl.Expr] = []
            for name, e in values.items():
                cond = pl.all_horizontal([x.is_null() for x in earlier]) if earlier else None
                chosen.append((name, e if cond is None else pl.when(cond).then(e)))
                earlier.append(e)
            present = pl.any_horizontal([e.is_not_null() for e in values.values()])
            struct = Obj()
            for n, e in chosen:
                struct.add(n, e, droppable=True)
            cols = " and ".join(f"'{v.column}'" for _, v in fields if v.column)
            plural = "s" if " and " in cols else ""
            missing = f"{where}no identifier: column{plural} {cols or '?'} empty"
        else:
            present = pl.all_horizontal([e.is_not_null() for e in values.values()])
            struct = Obj()
            for n, e in values.items():
                struct.add(n, e)
            cols = ", ".join(f"{n} ('{v.column}')" if v.column else n for n, v in fields)
            missing = f"{where}object identifiers {cols} must not be empty"
        return struct, present, reasons, pl.lit(missing)

    # -- attributes ----------------------------------------------------------------------------
    def attributes(self, op: Operation, fields, where: str, rest: bool,
                   ) -> tuple[list[tuple[str, Field]], list[str]]:
        skip = op.nulls == "skip"
        out = [(name, self.value(v, skip, f"{where} '{name}':")) for name, v in fields]
        problems: list[str] = []
        if rest:
            used = set(self.mapping_columns(op)) | set(op.exclude)
            names = {n for n, _ in out}
            for col in self.schema.names():
                if col in used or col in names or col in (ROW, LINE) or \
                        col.startswith(INTERNAL) or col in self.derived:
                    continue
                if len(col.encode()) > limits.MAX_NAME_BYTES:
                    problems.append(f"column '{col[:40]}...' (sent by 'rest') is "
                                    f"{len(col.encode())} bytes; attribute names are limited to "
                                    f"{limits.MAX_NAME_BYTES}")
                    continue
                out.append((col, self.value(Value(column=col), skip, f"{where} '{col}':")))
        return out, problems

    @staticmethod
    def mapping_columns(op: Operation) -> list[str]:
        """Columns this operation names (what `rest` leaves out)."""
        cols = [v.column for v in values_of(op) if v.column]
        if op.when:
            cols.append(op.when)
        if op.dedupe_column:
            cols.append(op.dedupe_column)
        return cols

    def prefix(self) -> str:
        """Column names for the next operation's JSON members."""
        self.bodies += 1
        return f"__body{self.bodies}_"

    def applies(self, op: Operation) -> pl.Expr:
        """Rows this operation is made for (`when:`)."""
        if not op.when:
            return pl.lit(True)
        w = self.column(op.when)
        applies = w.is_not_null()
        if self.dtype(op.when) == pl.String:
            applies = applies & (w.str.strip_chars() != "")
        elif self.dtype(op.when) == pl.Boolean:
            applies = applies & w
        return applies

    def placeheld(self, name: str, f: Field, placeholders: list[tuple[str, str]]) -> pl.Expr:
        """`as: json` text goes in as a placeholder string, replaced by the text after encoding."""
        if not f.is_json:
            return f.expr.alias(name)
        return _placeholder(name, f.expr, placeholders)

    def share(self, expr: pl.Expr, shared: list[pl.Expr]) -> pl.Expr:
        """A column computed once before the leaves and checks that read it (a lazy query does
        not share a list of structs between them: it was built five times)."""
        column = f"__shared_{self.shares}"
        self.shares += 1
        shared.append(expr.alias(column))
        return pl.col(column)

    def listed(self, name: str, objects: list[tuple[Obj, pl.Expr]], parts: Parts) -> pl.Expr:
        """A JSON list of the objects present in a row (each with where it is), made after the
        query (`Listed`), put in through a placeholder; null where none is present."""
        bodies = [(Body(obj, self.prefix()), present) for obj, present in objects]
        listed = Listed(f"__list{self.bodies}",
                        [(b, present.alias(f"{b.prefix}present")) for b, present in bodies])
        parts.lists.append(listed)
        mark = f"\x00backfill-json-{len(parts.placeholders)}\x00"
        parts.placeholders.append((orjson.dumps(mark).decode(), listed.column))
        return pl.when(pl.any_horizontal([p for _, p in objects])).then(pl.lit(mark)).alias(name)

    def embed(self, name: str, text: pl.Expr, placeholders: list[tuple[str, str]],
               shared: list[pl.Expr]) -> pl.Expr:
        """A nested value's JSON text, made with the leaves, goes in through a placeholder: its
        empty members are cleaned in its own text, never by key name in the whole operation
        (where a `nulls: clear` attribute of the same name keeps its null)."""
        return _placeholder(name, self.share(text, shared), placeholders)


def _placeholder(name: str, column: pl.Expr, placeholders: list[tuple[str, str]]) -> pl.Expr:
    """A mark that stands for `column`'s JSON text where it is not null; the encoder replaces
    the mark (as JSON text) with that text after encoding the operation."""
    mark = f"\x00backfill-json-{len(placeholders)}\x00"
    placeholders.append((orjson.dumps(mark).decode(), column.meta.output_name()))
    return pl.when(column.is_not_null()).then(pl.lit(mark)).alias(name)


def nested_keys(dtype: pl.DataType) -> tuple[str, ...]:
    keys: list[str] = []
    if isinstance(dtype, pl.Struct):
        for fld in dtype.fields:
            keys.append(fld.name)
            keys += nested_keys(fld.dtype)
    elif isinstance(dtype, pl.List | pl.Array):
        keys += nested_keys(dtype.inner)
    return tuple(keys)
