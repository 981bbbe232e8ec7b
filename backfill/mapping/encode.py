"""A chunk of rows -> one JSON text per operation, with the rows rejected on the way. Pure.

Per distinct input schema the mapping is compiled once (`compile.py`); polars then builds every
operation's JSON for a whole chunk (`struct.json_encode`), drops empty values with one regular
expression over the keys that may be empty, and checks the limits vectorised. Python touches only
rejected rows, `as: json` values and the deterministic event ids (a hash per event).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, replace

import orjson
import polars as pl

from backfill.contract import JSON, LINE, NBYTES, OP, PATH, ROW, EncodedChunk, Reject
from backfill.errors import MappingError, Problem
from backfill.mapping import limits
from backfill.mapping.assemble import operation
from backfill.mapping.compile import INTERNAL, CompiledOp, Compiler
from backfill.mapping.config import Mapping, Operation
from backfill.mapping.convert import convert_texts
from backfill.mapping.eventid import check_scheme, ulids
from backfill.mapping.jsonbody import Body
from backfill.mapping.model import ID_SCHEMES, null_markers
from backfill.mapping.paths import split, with_paths

RECENT_S = 72 * 3600  # Customer.io: events newer than this can trigger campaigns
FUTURE_SLACK_S = 300  # clocks differ: an event dated this far after now is in the future
RECENT_REASON = ("the event is from the last 72 hours (or dated in the future, or has no "
                 "time): it could trigger campaigns (recent_events: reject)")


class Encoder:
    """Turns chunks into operations; compiles the mapping once per distinct input schema."""

    def __init__(self, mapping: Mapping):
        self.mapping = mapping
        self._cache: dict[tuple, tuple[Compiler, list[CompiledOp]]] = {}
        self._nulls = null_markers(mapping)  # `null_values`, per column and for all
        self._paths = {n: line for n, line in mapping.columns_used().items() if split(n)}
        # events at or after this can trigger campaigns (`recent_events`), fixed for the run
        self.now = int(time.time())
        self.recent_after = self.now - RECENT_S
        for scheme in {op.dedupe_id for op in mapping.operations if _auto_id(op)}:
            check_scheme(scheme)

    def compile(self, schema: pl.Schema) -> tuple[Compiler, list[CompiledOp]]:
        key = tuple(schema.items())
        if key not in self._cache:
            compiler = Compiler(self.mapping, schema)
            compiler.derived = set(self._paths)
            ops, problems = [], []
            for op in self.mapping.operations:
                compiled, op_problems = operation(compiler, op)
                ops.append(compiled)
                problems += [Problem(op.line, f"{op.label}: {p}") for p in op_problems]
            if problems:
                raise MappingError(self.mapping.path, problems)
            self._cache[key] = (compiler, ops)
        return self._cache[key]

    def encode(self, frame: pl.DataFrame, input_name: str = "<frame>") -> EncodedChunk:
        """A chunk's operations. `frame` as a source parses it (`contract.Parsed.frame`), or
        any DataFrame: rows without `ROW` are numbered from 0, and have no lines."""
        if ROW not in frame.columns:
            frame = frame.with_columns(pl.int_range(0, frame.height, dtype=pl.Int64).alias(ROW))
        if LINE not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Int64).alias(LINE))
        if _empty_pieces(frame):  # polars 2.1 panics formatting a reason over it (pola-rs/polars#25525)
            frame = frame.rechunk()
        frame = read = _jsonable(frame)  # rejects show the row as read, null markers and all
        if self._paths:  # `customer.id`: a column of its own
            frame = with_paths(frame, self._paths, self.mapping.path)
        if self._nulls:
            frame = _null_markers(frame, self._nulls)
        compiler, ops = self.compile(frame.schema)
        frame = _prepare_json(frame, compiler.json_columns)
        frame = convert_texts(frame, compiler.converted, compiler.first_reading, compiler.unread)
        n = len(ops)
        names = [_Names.of(i) for i in range(n)]
        lazy = frame.lazy()
        for e in (e for c in ops for e in c.shared):
            lazy = lazy.with_columns(e)
        out = lazy.select(  # lazy: each common subexpression is computed once
            pl.col(ROW), pl.col(LINE),
            *[e for c in ops if isinstance(c.body, Body) for e in c.body.leaves],
            *[e for c in ops for listed in c.lists for e in listed.leaves],
            *[c.body.alias(k.json) for c, k in zip(ops, names, strict=True)
              if not isinstance(c.body, Body)],
            *[c.applies.alias(k.applies) for c, k in zip(ops, names, strict=True)],
            *[c.mapping.alias(k.mapping) for c, k in zip(ops, names, strict=True)],
            *[c.limits.alias(k.limits) for c, k in zip(ops, names, strict=True)],
            *[pl.col(col) for c in ops for _, col in c.placeholders  # lists come after
              if col not in {listed.column for listed in c.lists}],
            *[c.timestamp.cast(pl.Int64).alias(k.timestamp)
              for c, k in zip(ops, names, strict=True) if c.op.is_event],
            *[c.path.alias(k.path) for c, k in zip(ops, names, strict=True)
              if c.path is not None],
        ).collect()
        for c, k in zip(ops, names, strict=True):
            out = _texts(out, c, k)
        out, recent = self._recent(out, ops, names)
        if n * limits.MAX_OP_BYTES > limits.MAX_BATCH_BYTES - limits.BATCH_OVERHEAD:
            total = pl.sum_horizontal([pl.col(k.json).str.len_bytes().fill_null(0) + 1
                                       for k in names]) - 1
            last = names[-1].limits
            out = out.with_columns(pl.coalesce(pl.col(last), limits.row_too_large(total))
                                   .alias(last))
        bad = pl.any_horizontal([pl.col(r).is_not_null() for k in names
                                 for r in (k.mapping, k.limits)])
        rejected = out.filter(bad)
        rejects = _rejects(rejected, read, names, input_name) if rejected.height else []
        good = out.filter(~bad) if rejected.height else out
        counts = Counter()
        for c, k in zip(ops, names, strict=True):
            counts[(c.op.type, c.op.action)] += good.get_column(k.json).is_not_null().sum()
        unsent = _in_order(rejected, ops, names) if rejected.height else None
        return EncodedChunk(_in_order(good, ops, names), rejects, frame.height, counts, unsent,
                            *recent)

    def _recent(self, out: pl.DataFrame, ops: list[CompiledOp], names: list[_Names]
                ) -> tuple[pl.DataFrame, tuple[int, int, int]]:
        """Events that can trigger campaigns: from the last 72 hours, dated in the future, or
        without a time (the API stamps them now), counted (all, future, untimed), and skipped or
        rejected as `recent_events` says."""
        policy, counts = self.mapping.recent_events, [0, 0, 0]
        for c, k in zip(ops, names, strict=True):
            if not c.op.is_event:
                continue
            time_, sent = pl.col(k.timestamp), pl.col(k.json).is_not_null()
            recent = sent & (time_.is_null() | (time_ >= self.recent_after))
            found = out.select(recent.sum().alias("recent"),
                               (sent & (time_ > self.now + FUTURE_SLACK_S)).sum().alias("future"),
                               (sent & time_.is_null()).sum().alias("untimed")).row(0)
            counts = [a + int(b) for a, b in zip(counts, found, strict=True)]
            if policy == "skip":
                out = out.with_columns(pl.when(recent).then(None).otherwise(pl.col(k.json))
                                       .alias(k.json))
            elif policy == "reject":
                out = out.with_columns(pl.coalesce(pl.col(k.limits), pl.when(recent).then(
                    pl.lit(RECENT_REASON))).alias(k.limits))
        return out, (counts[0], counts[1], counts[2])


def _texts(out: pl.DataFrame, c: CompiledOp, k: _Names) -> pl.DataFrame:
    """An operation's JSON text where it applies: encoded, embedded texts put in, its `auto`
    id added; and its size checked."""
    for listed in c.lists:  # the lists its placeholders name (relationships)
        out = out.with_columns(listed.text(out))
    json = c.body.encode(out) if isinstance(c.body, Body) else out.get_column(k.json)
    out = out.with_columns(pl.when(pl.col(k.applies)).then(json).alias(k.json))
    for mark, col in reversed(c.placeholders):  # an embedded text may hold marks
        out = out.with_columns(pl.col(k.json).str.replace(mark, pl.col(col), literal=True))
    if _auto_id(c.op):
        out = out.with_columns(_with_event_ids(
            out.get_column(k.json), out.get_column(k.timestamp), out.get_column(ROW), c.op.dedupe_id))
    size_reason = limits.operation_too_large(pl.col(k.json))
    return out.with_columns(pl.coalesce(pl.col(k.limits), size_reason).alias(k.limits))


def _in_order(good: pl.DataFrame, ops: list[CompiledOp], names: list[_Names]) -> pl.DataFrame:
    """The operations frame of the contract (`OPS_SCHEMA`, plus `PATH` for v1), in row then
    mapping order: a concat and a sort, far cheaper than exploding a list of structs."""
    parts = [good.select(pl.col(ROW), pl.lit(i, dtype=pl.Int32).alias(OP),
                         pl.col(k.json).alias(JSON)) for i, k in enumerate(names)]
    long = (parts[0] if len(parts) == 1 else pl.concat(parts).sort(ROW, OP)).filter(
        pl.col(JSON).is_not_null())
    long = long.with_columns(pl.col(JSON).str.len_bytes().cast(pl.Int64).alias(NBYTES))
    if ops[0].path is not None:  # a v1 mapping holds that one operation (config.py)
        long = long.join(good.select(ROW, pl.col(names[0].path).alias(PATH)), on=ROW,
                         how="left", maintain_order="left")
    return long


@dataclass(frozen=True)
class _Names:
    """One operation's columns in the encoder's working frame: its JSON text, the rows it
    applies to (`when:`), its reject reasons by stage, its event time (for an `auto` id) and, for
    v1 operations, its request path."""

    json: str
    applies: str
    mapping: str
    limits: str
    timestamp: str
    path: str

    @classmethod
    def of(cls, index: int) -> _Names:
        return cls(*(f"__op{index}_{part}" for part in
                     ("json", "applies", "mapping", "limits", "timestamp", "path")))


def _null_markers(frame: pl.DataFrame, markers: dict[str | None, frozenset[str]]
                  ) -> pl.DataFrame:
    """Text values the mapping's `null_values` name (without surrounding spaces) made empty."""
    every = markers.get(None, frozenset())
    emptied = []
    for name, dtype in frame.schema.items():
        texts = markers.get(name, every)
        if dtype == pl.String and texts and name not in (ROW, LINE):
            column = pl.col(name)
            emptied.append(pl.when(column.str.strip_chars().is_in(sorted(texts)))
                           .then(None).otherwise(column).alias(name))
    return frame.with_columns(emptied) if emptied else frame


def _empty_pieces(frame: pl.DataFrame) -> bool:
    """Whether a column comes in pieces of which one is empty: what a filter by a boolean
    Series leaves of a frame in pieces (an NDJSON block's, a caller's concatenation)."""
    return any(n > 1 and any(len(piece) == 0 for piece in frame.to_series(i).get_chunks())
               for i, n in enumerate(frame.n_chunks("all")))


def _jsonable(frame: pl.DataFrame) -> pl.DataFrame:
    """Types polars' JSON writer cannot write (it panics), as values it can: binary in hex,
    extension types (from Arrow sources) as their storage's text. A no-op for other frames."""
    fixes = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Binary:
            fixes.append(pl.col(name).bin.encode("hex"))
        elif isinstance(dtype, pl.Extension):
            fixes.append(pl.col(name).ext.storage().cast(pl.String))
    return frame.with_columns(fixes) if fixes else frame


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
    return op.is_event and op.dedupe_id in ID_SCHEMES


def _with_event_ids(jsons: pl.Series, timestamps: pl.Series, rows: pl.Series,
                    scheme: str) -> pl.Series:
    """Prefix each event's JSON with its deterministic id (`scheme`: one of model.ID_SCHEMES)."""
    present = jsons.is_not_null()
    if not present.any():
        return jsons
    every = present.all()  # mostly: then no gather and scatter of every text
    index = None if every else present.arg_true()
    texts, stamps, rows = (s if every else s.gather(index) for s in (jsons, timestamps, rows))
    ids = ulids(texts, stamps, rows, scheme)
    with_id = pl.select(pl.concat_str([pl.lit('{"id":"'), pl.lit(ids), pl.lit('",'),
                                       texts.str.slice(1)])).to_series()
    return with_id.alias(jsons.name) if every else jsons.scatter(index, with_id)


def _records(frame: pl.DataFrame, rows: pl.Series) -> dict[int, dict]:
    """The rows numbered `rows`, each as {column: value} (what a reject shows)."""
    data_cols = [c for c in frame.columns if c not in (ROW, LINE) and not c.startswith(INTERNAL)]
    records = frame.join(rows.to_frame(ROW), on=ROW, how="semi").select(ROW, *data_cols)
    return {r[0]: dict(zip(data_cols, r[1:], strict=True)) for r in records.iter_rows()}


def with_records(rejects: list[Reject], frame: pl.DataFrame) -> list[Reject]:
    """`rejects` showing their rows as in `frame` (the block read with all its columns, when the
    encoded frame held only the mapping's)."""
    by_row = _records(_jsonable(frame), pl.Series(ROW, [r.row for r in rejects], pl.Int64))
    return [replace(r, record=by_row.get(r.row, r.record)) for r in rejects]


def _rejects(rejected: pl.DataFrame, frame: pl.DataFrame, names: list[_Names],
             input_name: str) -> list[Reject]:
    by_row = _records(frame, rejected.get_column(ROW))
    out = []
    for r in rejected.iter_rows(named=True):
        for i, k in enumerate(names):
            stage, reason = ("mapping", r[k.mapping]) if r[k.mapping] else ("limits", r[k.limits])
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
