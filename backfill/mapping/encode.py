"""The mapping compiled into polars expressions: a chunk of rows -> one JSON text per operation.

Pure. Per distinct input schema the mapping is compiled once; polars then builds every
operation's JSON for a whole chunk (`struct.json_encode`), drops empty values with one regular
expression over the keys that may be empty, and checks the limits vectorised. Python touches only
rejected rows, `as: json` values and the deterministic event ids (a hash per event).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import orjson
import polars as pl

from backfill.contract import JSON, LINE, NBYTES, OP, PATH, ROW, EncodedChunk, Reject
from backfill.errors import MappingError, Problem
from backfill.mapping import limits
from backfill.mapping.config import DELIVERY_EVENTS, PLATFORMS, Mapping, Operation, Value, values_of
from backfill.mapping.convert import convert, convert_texts, is_nested
from backfill.mapping.eventid import ulids
from backfill.mapping.jsonbody import Body, Obj, json_text, strip_nulls

ULID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"
PREPARED = ("int", "float", "bool", "timestamp")  # text conversions computed once per chunk
INTERNAL = ("__json_", "__conv_")
_ARTICLE = {"int": "an int", "float": "a float", "bool": "a bool", "timestamp": "a timestamp",
            "json": "JSON", "string": "a string"}


@dataclass
class _Field:
    """One value as sent: its expression, what makes it fail, and how to measure it."""

    expr: pl.Expr
    failures: list[pl.Expr]
    size: pl.Expr | None
    nested_keys: tuple[str, ...] = ()
    is_json: bool = False  # `as: json` text, embedded through a placeholder


@dataclass
class _CompiledOp:
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

class _Compiler:
    """Compiles the mapping for one input schema."""

    def __init__(self, mapping: Mapping, schema: pl.Schema):
        self.mapping = mapping
        self.schema = schema
        self.json_columns: dict[str, str] = {}  # source column -> prepared column
        self.converted: dict[tuple[str, str], str] = {}  # (column, as) -> prepared column
        self.bodies = 0
        self.shares = 0
        self.first_reading: dict[str, int] = {}  # convert_texts' hint, chunk to chunk

    def dtype(self, column: str) -> pl.DataType:
        return self.schema.get(column, pl.String)

    def column(self, column: str) -> pl.Expr:
        if column in self.schema:
            return pl.col(column)
        return pl.lit(None, dtype=pl.String)  # absent from this chunk (sparse NDJSON)

    def value(self, v: Value, skip_empty: bool, where: str) -> _Field:
        if v.column is None:
            lit = pl.lit(v.literal)
            size = pl.lit(len(str(v.literal).encode())) if isinstance(v.literal, str) else None
            return _Field(lit, [], size)
        dtype = self.dtype(v.column)
        raw = self.column(v.column)
        if v.as_ == "json" and dtype == pl.String:
            prepared = self.json_columns.setdefault(v.column, f"__json_{len(self.json_columns)}")
            text = pl.col(prepared)
            failed = raw.is_not_null() & (raw.str.strip_chars() != "") & text.is_null()
            reason = self._failure(v, raw, failed, where)
            return _Field(text, [reason], text.str.len_bytes(), is_json=True)
        if dtype == pl.String and v.as_ in PREPARED:
            name = self.converted.setdefault((v.column, v.as_), f"__conv_{len(self.converted)}")
            expr, failed = pl.col(name), pl.col(f"{name}_failed")
        else:
            expr, failed = convert(raw, dtype, v.as_)
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
            nested = _nested_keys(out_dtype)
        return _Field(expr, failures, size, nested)

    def _failure(self, v: Value, raw: pl.Expr, failed: pl.Expr, where: str) -> pl.Expr:
        shown = raw.cast(pl.String).str.head(60)
        return pl.when(failed).then(pl.format(
            "{} column '{}' value \"{}\" is not {}", pl.lit(where), pl.lit(v.column), shown,
            pl.lit(_ARTICLE.get(v.as_ or "", v.as_ or "")),
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
                   ) -> tuple[list[tuple[str, _Field]], list[str]]:
        skip = op.nulls == "skip"
        out = [(name, self.value(v, skip, f"{where} '{name}':")) for name, v in fields]
        problems: list[str] = []
        if rest:
            used = set(self.mapping_columns(op)) | set(op.exclude)
            names = {n for n, _ in out}
            for col in self.schema.names():
                if col in used or col in names or col in (ROW, LINE) or col.startswith(INTERNAL):
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

    # -- operations ----------------------------------------------------------------------------
    def operation(self, op: Operation) -> tuple[_CompiledOp, list[str]]:
        if op.type == "segment":
            return self.segment(op), []
        if op.type == "form":
            return self.form(op)
        person = op.type == "person"
        obj = Obj()
        obj.add("type", pl.lit(op.type))
        mapping_reasons: list[pl.Expr] = []
        limit_reasons: list[pl.Expr] = []
        if op.action == "merge":
            obj.add("action", pl.lit(op.action))
            for key, ids_fields in (("primary", op.primary), ("secondary", op.secondary)):
                ids, present, id_limits, missing = self.identifiers(ids_fields, "person",
                                                                    f"{key} ")
                obj.add(key, ids)
                mapping_reasons.append(pl.when(~present).then(missing))
                limit_reasons += id_limits
        else:
            kind = "object" if op.type == "object" else "person"
            ids, present, id_limits, missing = self.identifiers(op.identifiers, kind, "")
            obj.add("identifiers", ids)
            obj.add("action", pl.lit(op.action))
            mapping_reasons.append(pl.when(~present).then(missing))
            limit_reasons += id_limits
        skip = op.nulls == "skip"
        problems: list[str] = []
        if op.device is not None:
            obj.add("device", self.device(op, mapping_reasons, limit_reasons))

        if op.dedupe_id == "column" and op.dedupe_column:
            raw = self.column(op.dedupe_column).cast(pl.String)
            dedupe = pl.when(raw.str.strip_chars() != "").then(raw.str.strip_chars())
            mapping_reasons.append(pl.when(dedupe.is_not_null()
                                           & ~dedupe.str.contains(ULID_PATTERN)).then(
                pl.format("dedupe_id column '{}' value \"{}\" is not a ULID",
                          pl.lit(op.dedupe_column), dedupe.str.head(60))))
            obj.add("id", dedupe, droppable=True)
        if op.name is not None:
            name = self.value(op.name, True, "event name:")
            name_expr = name.expr if op.name.column is None or \
                self.dtype(op.name.column) == pl.String else name.expr.cast(pl.String)
            mapping_reasons += name.failures
            label = f"column '{op.name.column}'" if op.name.column else "the literal"
            mapping_reasons.append(pl.when(name_expr.is_null()).then(
                pl.lit(f"event name ({label}) is empty")))
            limit_reasons.append(limits.event_name_too_long(name_expr))
            if op.type == "delivery":
                mapping_reasons.append(pl.when(name_expr.is_not_null()
                                               & ~name_expr.is_in(DELIVERY_EVENTS)).then(
                    pl.format("delivery event name \"{}\" is not one of {}", name_expr.str.head(60),
                              pl.lit(", ".join(DELIVERY_EVENTS)))))
            obj.add("name", name_expr)
        timestamp = pl.lit(None, dtype=pl.Int64)
        if op.timestamp is not None and (person or op.action != "identify"):
            ts = self.value(op.timestamp, True, "timestamp:")
            mapping_reasons += ts.failures
            obj.add("timestamp", ts.expr, droppable=True)
            timestamp = ts.expr

        attrs, rest_problems = self.attributes(op, op.attributes, "attribute", op.rest)
        problems += rest_problems
        placeholders: list[tuple[str, str]] = []
        shared: list[pl.Expr] = []
        if attrs:
            attributes = Obj()
            for name, f in attrs:
                mapping_reasons += f.failures
                if f.size is not None:
                    limit_reasons.append(limits.value_too_long(name, f.size))
                if skip and f.nested_keys:  # a nested value whose own empty members go
                    leaf = self._embed(name, _cleaned(f.expr, set(f.nested_keys)), placeholders,
                                       shared)
                else:
                    leaf = self._placeheld(name, f, placeholders)
                attributes.add(name, leaf, droppable=skip)
            obj.add("attributes", attributes, droppable=True)
            if op.type == "delivery":
                token = dict(attrs)["device_token"].expr
                mapping_reasons.append(pl.when(token.is_null()).then(
                    pl.lit("attributes.device_token is empty; delivery events require it")))
            if len(attrs) > limits.MAX_ATTRIBUTES:
                count = pl.sum_horizontal([f.expr.is_not_null().cast(pl.Int32)
                                           for _, f in attrs])
                limit_reasons.append(limits.too_many_attributes(count))

        if op.relationships:
            rels = []
            cleaned: set[str] = set()  # keys whose empty values go from the relationships
            for i, rel in enumerate(op.relationships):
                other = "object" if person else "person"
                where = f"relationship {i}"
                rids, rpresent, rlimits, _ = self.identifiers(rel.identifiers, other, where)
                limit_reasons += [pl.when(rpresent).then(r) for r in rlimits]
                cleaned.update(m.key for m in rids.members if m.droppable)  # fallbacks
                parts = [rids.expr().alias("identifiers")]
                if rel.attributes:
                    rattrs = [(n, self.value(v, skip, f"{where} attribute '{n}':"))
                              for n, v in rel.attributes]
                    rfields = []
                    for n, f in rattrs:
                        mapping_reasons += [pl.when(rpresent).then(r) for r in f.failures]
                        if f.size is not None:
                            limit_reasons.append(pl.when(rpresent).then(
                                limits.value_too_long(n, f.size, f"{where} attribute")))
                        if skip:
                            cleaned.add(n)
                        rfields.append(self._placeheld(n, f, placeholders))
                    parts.append(pl.struct(rfields).alias("relationship_attributes"))
                rels.append(pl.when(rpresent).then(pl.struct(parts)))
            # `list.drop_nulls` on structs took 100+ ms per 30k rows; this filter takes 3
            rel_list = pl.concat_list(rels).list.filter(pl.element().is_not_null())
            # computed once: the checks, `applies` and the JSON all read it
            relationships = self._shared(pl.when(rel_list.list.len() > 0).then(rel_list),
                                         shared)
            obj.add("cio_relationships", self._embed(
                "cio_relationships", _cleaned(relationships, cleaned), placeholders, shared)
                if cleaned else relationships, droppable=True)

        applies = self.applies(op)
        if op.action in ("add_relationships", "delete_relationships"):
            applies = applies & relationships.is_not_null()

        body = Body(obj, self.prefix())
        mapping_reason = pl.when(applies).then(limits.first_reason(mapping_reasons))
        limit_reason = pl.when(applies).then(limits.first_reason(limit_reasons))
        return (_CompiledOp(op, body, applies, mapping_reason, limit_reason, placeholders,
                            timestamp, shared=shared), problems)

    def prefix(self) -> str:
        """Column names for the next operation's JSON members."""
        self.bodies += 1
        return f"__body{self.bodies}_"

    def device(self, op: Operation, mapping_reasons: list[pl.Expr],
               limit_reasons: list[pl.Expr]) -> Obj:
        """device: {token, platform, last_used, attributes} (delete_device: token only)."""
        d = op.device
        assert d is not None
        token = self.value(d.token, True, "device.token:")
        token_expr = token.expr.cast(pl.String)
        mapping_reasons += token.failures
        mapping_reasons.append(pl.when(token_expr.is_null()).then(
            pl.lit(f"device token ({d.token.label}) is empty")))
        device = Obj()
        device.add("token", token_expr)
        if d.platform is not None:
            platform = self.value(d.platform, True, "device.platform:").expr.cast(pl.String)
            lowered = platform.str.to_lowercase()
            mapping_reasons.append(pl.when(~lowered.is_in(PLATFORMS) | lowered.is_null()).then(
                pl.format("device platform \"{}\" is not ios or android",
                          platform.fill_null("").str.head(40))))
            device.add("platform", lowered, droppable=True)
        if d.last_used is not None:
            last_used = self.value(d.last_used, True, "device.last_used:")
            mapping_reasons += last_used.failures
            device.add("last_used", last_used.expr, droppable=True)
        if d.attributes:
            attributes = Obj()
            for n, v in d.attributes:
                f = self.value(v, True, f"device attribute '{n}':")
                mapping_reasons += f.failures
                if f.size is not None:
                    limit_reasons.append(limits.value_too_long(n, f.size, "device attribute"))
                attributes.add(n, f.expr, droppable=True)
            device.add("attributes", attributes, droppable=True)
        return device

    def segment(self, op: Operation) -> _CompiledOp:
        """v1: one id per row, for /api/v1/segments/{segment_id}/{action}?id_type=..."""
        ids = {}
        for name, v in op.identifiers:
            f = self.value(v, True, "")
            e = f.expr.cast(pl.String)
            ids[name] = pl.when(e.str.strip_chars() != "").then(e)
        value = pl.coalesce(list(ids.values()))
        id_type = pl.coalesce([pl.when(e.is_not_null()).then(pl.lit(n)) for n, e in ids.items()])
        assert op.segment_id is not None
        segment = self.value(op.segment_id, True, "segment_id:").expr.cast(pl.String)
        cols = " and ".join(f"'{v.column}'" for _, v in op.identifiers if v.column) or "?"
        mapping = limits.first_reason([
            pl.when(value.is_null()).then(pl.lit(f"no identifier: {cols} empty")),
            pl.when(~segment.fill_null("").str.contains(r"^\d+$")).then(pl.format(
                "segment_id \"{}\" is not a segment number", segment.fill_null("").str.head(40))),
        ])
        limit = limits.first_reason([limits.identifier_too_long(n, e) for n, e in ids.items()])
        json = json_text(value)
        path = pl.format("/api/v1/segments/{}/{}?id_type={}", segment, pl.lit(op.action),
                         id_type)
        return self._v1(op, json, mapping, limit, path)

    def form(self, op: Operation) -> tuple[_CompiledOp, list[str]]:
        """v1: one request per row to /api/v1/forms/{form_id}/submit, data as strings."""
        data, problems = self.attributes(op, op.data, "data field", op.rest)
        fields = [(n, _Field(pl.when(f.expr.is_not_null()).then(f.expr.cast(pl.String)),
                             f.failures, f.size)) for n, f in data]
        assert op.form_id is not None
        form_id = self.value(op.form_id, True, "form_id:").expr.cast(pl.String)
        reasons = [r for _, f in fields for r in f.failures]
        who = [f.expr for n, f in fields if n in ("id", "email")]
        reasons.append(pl.when(~pl.any_horizontal([e.is_not_null() for e in who])
                               if who else pl.lit(True)).then(
            pl.lit("form data has no 'id' or 'email' to identify the person")))
        if len(who) == 2:
            reasons.append(pl.when(pl.all_horizontal([e.is_not_null() for e in who])).then(
                pl.lit("form data has both 'id' and 'email'; the API takes exactly one")))
        reasons.append(pl.when(~form_id.fill_null("").str.contains(r"^[A-Za-z0-9_.~-]+$")).then(
            pl.format("form_id \"{}\" must be letters, digits, '_', '.', '~' or '-'",
                      form_id.fill_null("").str.head(40))))
        limit = limits.first_reason([limits.value_too_long(n, f.size, "data field")
                                     for n, f in fields if f.size is not None])
        body = Obj()
        for n, f in fields:
            body.add(n, f.expr, droppable=True)
        path = pl.format("/api/v1/forms/{}/submit", form_id)
        return (self._v1(op, Body(body, self.prefix()), limits.first_reason(reasons), limit,
                         path), problems)

    def _v1(self, op: Operation, json: Body | pl.Expr, mapping: pl.Expr, limit: pl.Expr,
            path: pl.Expr) -> _CompiledOp:
        applies = self.applies(op)
        return _CompiledOp(op, json, applies, pl.when(applies).then(mapping),
                           pl.when(applies).then(limit), [], pl.lit(None, dtype=pl.Int64),
                           pl.when(applies).then(path))

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

    def _placeheld(self, name: str, f: _Field, placeholders: list[tuple[str, str]]) -> pl.Expr:
        """`as: json` text goes in as a placeholder string, replaced by the text after encoding."""
        if not f.is_json:
            return f.expr.alias(name)
        mark = f"\x00backfill-json-{len(placeholders)}\x00"
        column = f.expr.meta.output_name()
        placeholders.append((orjson.dumps(mark).decode(), column))
        return pl.when(f.expr.is_not_null()).then(pl.lit(mark)).alias(name)

    def _shared(self, expr: pl.Expr, shared: list[pl.Expr]) -> pl.Expr:
        """A column computed once before the leaves and checks that read it (a lazy query does
        not share a list of structs between them: it was built five times)."""
        column = f"__shared_{self.shares}"
        self.shares += 1
        shared.append(expr.alias(column))
        return pl.col(column)

    def _embed(self, name: str, text: pl.Expr, placeholders: list[tuple[str, str]],
               shared: list[pl.Expr]) -> pl.Expr:
        """A nested value's JSON text, made with the leaves, goes in through a placeholder: its
        empty members are cleaned in its own text, never by key name in the whole operation
        (where a `nulls: clear` attribute of the same name keeps its null)."""
        column = self._shared(text, shared)
        mark = f"\x00backfill-json-{len(placeholders)}\x00"
        placeholders.append((orjson.dumps(mark).decode(), column.meta.output_name()))
        return pl.when(column.is_not_null()).then(pl.lit(mark)).alias(name)


def _cleaned(value: pl.Expr, keys: set[str]) -> pl.Expr:
    """A nested value as JSON text without the `"key":null` members of these keys (null: null)."""
    return pl.when(value.is_not_null()).then(strip_nulls(json_text(value), keys))


def _nested_keys(dtype: pl.DataType) -> tuple[str, ...]:
    keys: list[str] = []
    if isinstance(dtype, pl.Struct):
        for fld in dtype.fields:
            keys.append(fld.name)
            keys += _nested_keys(fld.dtype)
    elif isinstance(dtype, pl.List | pl.Array):
        keys += _nested_keys(dtype.inner)
    return tuple(keys)


class Encoder:
    """Turns chunks into operations; compiles the mapping once per distinct input schema."""

    def __init__(self, mapping: Mapping):
        self.mapping = mapping
        self._cache: dict[tuple, tuple[_Compiler, list[_CompiledOp]]] = {}

    def compile(self, schema: pl.Schema) -> tuple[_Compiler, list[_CompiledOp]]:
        key = tuple(schema.items())
        if key not in self._cache:
            compiler = _Compiler(self.mapping, schema)
            ops, problems = [], []
            for op in self.mapping.operations:
                compiled, op_problems = compiler.operation(op)
                ops.append(compiled)
                problems += [Problem(op.line, f"{op.label}: {p}") for p in op_problems]
            if problems:
                raise MappingError(self.mapping.path, problems)
            self._cache[key] = (compiler, ops)
        return self._cache[key]

    def encode(self, frame: pl.DataFrame, input_name: str) -> EncodedChunk:
        compiler, ops = self.compile(frame.schema)
        frame = _prepare_json(frame, compiler.json_columns)
        frame = convert_texts(frame, compiler.converted, compiler.first_reading)
        n = len(ops)
        lazy = frame.lazy()
        for e in (e for c in ops for e in c.shared):
            lazy = lazy.with_columns(e)
        out = lazy.select(  # lazy: each common subexpression is computed once
            pl.col(ROW), pl.col(LINE),
            *[e for c in ops if isinstance(c.body, Body) for e in c.body.leaves],
            *[c.body.alias(f"j{i}") for i, c in enumerate(ops) if not isinstance(c.body, Body)],
            *[c.applies.alias(f"a{i}") for i, c in enumerate(ops)],
            *[c.mapping.alias(f"m{i}") for i, c in enumerate(ops)],
            *[c.limits.alias(f"l{i}") for i, c in enumerate(ops)],
            *[pl.col(col) for c in ops for _, col in c.placeholders],
            *[c.timestamp.cast(pl.Int64).alias(f"t{i}") for i, c in enumerate(ops)
              if _auto_id(c.op)],
            *[c.path.alias(f"p{i}") for i, c in enumerate(ops) if c.path is not None],
        ).collect()
        for i, c in enumerate(ops):
            json = c.body.encode(out) if isinstance(c.body, Body) else out.get_column(f"j{i}")
            out = out.with_columns(pl.when(pl.col(f"a{i}")).then(json).alias(f"j{i}"))
            for mark, col in reversed(c.placeholders):  # an embedded text may hold marks
                out = out.with_columns(pl.col(f"j{i}").str.replace(mark, pl.col(col),
                                                                    literal=True))
            if _auto_id(c.op):
                out = out.with_columns(_with_event_ids(
                    out.get_column(f"j{i}"), out.get_column(f"t{i}"), out.get_column(ROW)))
            size_reason = limits.operation_too_large(pl.col(f"j{i}"))
            out = out.with_columns(pl.coalesce(pl.col(f"l{i}"), size_reason).alias(f"l{i}"))
        if n * limits.MAX_OP_BYTES > limits.MAX_BATCH_BYTES - limits.BATCH_OVERHEAD:
            total = pl.sum_horizontal([pl.col(f"j{i}").str.len_bytes().fill_null(0) + 1
                                       for i in range(n)]) - 1
            out = out.with_columns(pl.coalesce(pl.col(f"l{n - 1}"),
                                               limits.row_too_large(total)).alias(f"l{n - 1}"))
        reason_cols = [c for i in range(n) for c in (f"m{i}", f"l{i}")]
        bad = pl.any_horizontal([pl.col(c).is_not_null() for c in reason_cols])
        rejected = out.filter(bad)
        rejects = _rejects(rejected, frame, n, input_name) if rejected.height else []
        good = out.filter(~bad) if rejected.height else out
        # row then mapping order; a list of structs exploded took 114 ms per 30k rows of 3 ops
        parts = [good.select(pl.col(ROW), pl.lit(i, dtype=pl.Int32).alias(OP),
                             pl.col(f"j{i}").alias(JSON)) for i in range(n)]
        long = (parts[0] if n == 1 else pl.concat(parts).sort(ROW, OP)).filter(
            pl.col(JSON).is_not_null())
        long = long.with_columns(pl.col(JSON).str.len_bytes().cast(pl.Int64).alias(NBYTES))
        if ops[0].path is not None:  # a v1 mapping holds that one operation (config.py)
            long = long.join(good.select(ROW, pl.col("p0").alias(PATH)), on=ROW, how="left",
                             maintain_order="left")
        counts = Counter()
        for i, c in enumerate(ops):
            counts[(c.op.type, c.op.action)] += good.get_column(f"j{i}").is_not_null().sum()
        return EncodedChunk(long, rejects, frame.height, counts)


def _prepare_json(frame: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
    """`as: json` on text: parse each value with orjson and keep its compact form (or null)."""
    if not columns:
        return frame
    prepared = []
    for source, target in columns.items():
        values = []
        for text in frame.get_column(source).to_list():
            if text is None or not text.strip():
                values.append(None)
                continue
            try:
                values.append(orjson.dumps(orjson.loads(text)).decode())
            except orjson.JSONDecodeError:
                values.append(None)
        prepared.append(pl.Series(target, values, dtype=pl.String))
    return frame.with_columns(prepared)


def _auto_id(op: Operation) -> bool:
    return op.is_event and op.dedupe_id == "auto"


def _with_event_ids(jsons: pl.Series, timestamps: pl.Series, rows: pl.Series) -> pl.Series:
    """Prefix each event's JSON with its deterministic id (a hash per event, in Python)."""
    present = jsons.is_not_null()
    if not present.any():
        return jsons
    index = present.arg_true()
    texts = jsons.gather(index)
    ids = ulids(texts, timestamps.gather(index), rows.gather(index))
    with_id = pl.select(pl.concat_str([pl.lit('{"id":"'), pl.lit(ids), pl.lit('",'),
                                       texts.str.slice(1)])).to_series()
    return jsons.scatter(index, with_id)


def _rejects(rejected: pl.DataFrame, frame: pl.DataFrame, n: int, input_name: str
             ) -> list[Reject]:
    data_cols = [c for c in frame.columns if c not in (ROW, LINE) and not c.startswith(INTERNAL)]
    records = frame.join(rejected.select(ROW), on=ROW, how="semi").select(ROW, *data_cols)
    by_row = {r[0]: dict(zip(data_cols, r[1:], strict=True)) for r in records.iter_rows()}
    out = []
    for r in rejected.iter_rows(named=True):
        for i in range(n):
            stage, reason = ("mapping", r[f"m{i}"]) if r[f"m{i}"] else ("limits", r[f"l{i}"])
            if reason:
                out.append(Reject(input_name, r[ROW], r[LINE], i, reason, stage,
                                  by_row.get(r[ROW]), reason_kind(reason)))
                break
    return out


_KIND_VALUE = re.compile(r'"(?:[^"\\]|\\.)*"')
_KIND_NUMBER = re.compile(r"\d+")


def reason_kind(reason: str) -> str:
    """The reason without its values and sizes, to group rejects in the summary."""
    return _KIND_NUMBER.sub("N", _KIND_VALUE.sub('"..."', reason))
