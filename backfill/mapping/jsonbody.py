"""An operation's JSON object from a tree of polars expressions, empty members left out. Pure.

polars' `struct.json_encode` writes every field, a null one as `null`; the API wants empty values
left out (or sent as null, to clear an attribute, when the mapping says `nulls: clear`). Removing
`"key":null` from the text afterwards costs a regular expression over every byte, so instead the
rows of a chunk are grouped by which droppable members are null in them (their null pattern): each
group is encoded with a struct of only its present members, and the texts are put back in row
order. In a chunk with more than MAX_PATTERNS patterns, rows are grouped only by the members
whose key is also kept with its null elsewhere in the object (`nulls: clear` attributes), and
the other null members are cut out of the text by a regular expression on their keys. Lists and
nested values (relationships, NDJSON objects) are leaves here: the encoder cleans their empty
members in their own text and embeds it (`compile.Compiler.embed`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial

import orjson
import polars as pl

MAX_PATTERNS = 24
# `droppable` of an object sent as `{}` when all its members are left out (a relationship's
# attributes), where a plain object is sent as null (`False`) or left out (`True`)
EMPTY_AS_OBJECT = "{}"
_EMPTY_MARK = "\x00backfill-empty-object\x00"


@dataclass
class Member:
    key: str
    value: pl.Expr | Obj
    # left out when null (an object: when all its members are); an object may be EMPTY_AS_OBJECT
    droppable: bool | str = False


@dataclass
class Obj:
    members: list[Member] = field(default_factory=list)

    def add(self, key: str, value: pl.Expr | Obj, droppable: bool | str = False) -> None:
        self.members.append(Member(key, value, droppable))

    def expr(self) -> pl.Expr:
        """Every member, null or not: for objects inside lists (cleaned in their own text)."""
        return pl.struct([(m.value.expr() if isinstance(m.value, Obj) else m.value).alias(m.key)
                          for m in self.members])


class Body:
    """A compiled object: its leaves, computed as columns named `<prefix><i>`, then encoded."""

    def __init__(self, obj: Obj, prefix: str):
        self.prefix = prefix
        self.leaves: list[pl.Expr] = []
        self.droppable: list[str] = []
        self.key: dict[str, str] = {}  # leaf column -> its key in the JSON
        self.tree = self._flatten(obj)
        # keys that keep their null somewhere (nulls: clear, say): never cut out by name
        self.kept = _keys(self.tree, droppable=False)
        self._patterns: dict[tuple[frozenset[str], frozenset[str]], pl.Expr] = {}

    def _flatten(self, obj: Obj) -> list[tuple[str, str | list, bool]]:
        out: list[tuple[str, str | list, bool]] = []
        for m in obj.members:
            if isinstance(m.value, Obj):
                out.append((m.key, self._flatten(m.value), m.droppable))
                continue
            name = f"{self.prefix}{len(self.leaves)}"
            self.leaves.append(m.value.alias(name))
            self.key[name] = m.key
            if m.droppable:
                self.droppable.append(name)
            out.append((m.key, name, m.droppable))
        return out

    def encode(self, frame: pl.DataFrame) -> pl.Series:
        """One JSON text per row of a frame holding the leaf columns."""
        counts = frame.select(pl.col(c).null_count() for c in self.droppable).row(0) \
            if self.droppable else ()
        nullable = [c for c, n in zip(self.droppable, counts, strict=True) if n]
        keys = _pattern(frame, nullable) if 0 < len(nullable) <= 62 else None
        if keys is not None and keys.n_unique() <= MAX_PATTERNS:
            text = self._grouped(frame, keys, nullable, frozenset())
        elif not nullable:
            text = _each_row(frame, self._encoded(0, [], frozenset()))
        else:  # too many patterns: group by the members whose key keeps its null elsewhere
            grouped = [c for c in nullable if self.key[c] in self.kept][:62]
            cut = frozenset(self.key[c] for c in nullable if c not in grouped)
            keys = _pattern(frame, grouped) if grouped else None
            text = self._grouped(frame, keys, grouped, cut)
        return text

    def _grouped(self, frame: pl.DataFrame, keys: pl.Series | None, members: list[str],
                 cut: frozenset[str]) -> pl.Series:
        """Rows grouped by which `members` are null (`keys`), each group encoded without them;
        the null members whose keys are in `cut` are cut out of the text by name."""
        if keys is None:
            return _each_row(frame, self._encoded(0, members, cut))
        counts = keys.value_counts(sort=False, name="n").sort(keys.name)
        if counts.height == 1:
            return _each_row(frame, self._encoded(counts.item(0, 0), members, cut))
        order = keys.arg_sort()
        leaves = frame.select(c.meta.output_name() for c in self.leaves).gather(order)
        texts, start = [], 0
        for pattern, length in counts.iter_rows():
            part = leaves.slice(start, length)
            texts.append(_each_row(part, self._encoded(pattern, members, cut)))
            start += length
        placed = pl.DataFrame({"at": order, "text": pl.concat(texts)}).sort("at")
        return placed.get_column("text")

    def _encoded(self, pattern: int, members: list[str], cut: frozenset[str]) -> pl.Expr:
        """The encoding of rows where the `members` whose bits are set in `pattern` are null;
        null members with keys in `cut` are then cut out of the text (and objects left empty)."""
        dropped = frozenset(c for b, c in enumerate(members) if pattern >> b & 1)
        if (dropped, cut) not in self._patterns:  # built once per set of empty members
            text = _struct(self.tree, set(dropped)).struct.json_encode()
            if _emptied(self.tree, set(dropped)):
                text = text.str.replace_all(orjson.dumps(_EMPTY_MARK).decode(), "{}",
                                            literal=True)
            if cut:
                text = strip_nulls(text, set(cut))
                objects = _keys(self.tree, droppable=True, leaves=False) - self.kept
                if objects:  # an object left empty goes too, as in the grouped encoding
                    alt = "|".join(re.escape(orjson.dumps(k).decode()[1:-1])
                                   for k in sorted(objects))
                    text = text.str.replace_all(f',"(?:{alt})":\\{{\\}}', "")
            self._patterns[(dropped, cut)] = text
        return self._patterns[(dropped, cut)]


def _each_row(frame: pl.DataFrame, text: pl.Expr) -> pl.Series:
    """`text` for each row of the frame, even where every member left is a literal (an
    object whose column members are all empty in these rows: a relationship that is absent)."""
    out = frame.select(text)
    if out.height == frame.height:
        return out.to_series()
    return frame.select(pl.first().alias("__row_of"), text.alias("__each")).get_column("__each")


def _pattern(frame: pl.DataFrame, members: list[str]) -> pl.Series:
    """Per row, a bit for each of `members` (at most 62) that is null."""
    return frame.select(pl.sum_horizontal(pl.col(c).is_null().cast(pl.Int64) * (1 << b)
                                          for b, c in enumerate(members))).to_series()


def _keys(tree: list, droppable: bool, leaves: bool = True, objects: bool = True) -> set[str]:
    """Keys of the droppable (or kept) leaves and/or objects, at any depth."""
    keys = set()
    for key, value, can_drop in tree:
        is_object = isinstance(value, list)
        if can_drop == droppable and (objects if is_object else leaves):
            keys.add(key)
        if is_object:
            keys |= _keys(value, droppable, leaves, objects)
    return keys


def _struct(tree: list, dropped: set[str]) -> pl.Expr:
    fields = _fields(tree, dropped)
    return pl.struct(fields) if fields else pl.lit(None, dtype=pl.Struct({"_": pl.Null}))


def _emptied(tree: list, dropped: set[str]) -> bool:
    """Whether an EMPTY_AS_OBJECT object has all its members left out."""
    return any(isinstance(value, list) and (
        (droppable == EMPTY_AS_OBJECT and not _fields(value, dropped)) or _emptied(value, dropped))
        for _, value, droppable in tree)


def _fields(tree: list, dropped: set[str]) -> list[pl.Expr]:
    out = []
    for key, value, droppable in tree:
        if isinstance(value, list):
            inner = _fields(value, dropped)
            if inner:
                out.append(pl.struct(inner).alias(key))
            elif droppable == EMPTY_AS_OBJECT:  # a mark, sent as {} (`Body._encoded`)
                out.append(pl.lit(_EMPTY_MARK).alias(key))
            elif not droppable:
                out.append(pl.lit(None).alias(key))
        elif value not in dropped:
            out.append(pl.col(value).alias(key))
    return out


def json_text(value: pl.Expr) -> pl.Expr:
    """A value (of any type, nested too) as its JSON text, as `struct.json_encode` writes it."""
    return pl.struct(value.alias("v")).struct.json_encode().str.slice(5).str.head(-1)


def strip_nulls(body: pl.Expr, keys: set[str]) -> pl.Expr:
    """Drop `"key":null` members for the keys that may be empty (JSON-escaped key names)."""
    if not keys:
        return body
    alt = "|".join(re.escape(orjson.dumps(k).decode()[1:-1]) for k in sorted(keys))
    body = body.str.replace_all(f',"(?:{alt})":null', "")
    return body.str.replace_all(f'\\{{"(?:{alt})":null,?', "{")


def cleaned(value: pl.Expr, keys: set[str]) -> pl.Expr:
    """A nested value as JSON text without the `"key":null` members of these keys (null: null).
    Only the texts holding a `":null` go through the regular expressions, which copy every
    text they are given; finding those few first is far cheaper."""
    if not keys:
        return pl.when(value.is_not_null()).then(json_text(value))
    strip = partial(_strip_where_null, keys=frozenset(keys))
    return pl.when(value.is_not_null()).then(
        json_text(value).map_batches(strip, return_dtype=pl.String, is_elementwise=True))


def _strip_where_null(texts: pl.Series, keys: frozenset[str]) -> pl.Series:
    where = texts.str.contains('":null', literal=True).fill_null(False)
    if not where.any():
        return texts
    at = where.arg_true()
    stripped = texts.gather(at).to_frame("t").select(strip_nulls(pl.col("t"), set(keys)))
    return texts.clone().scatter(at, stripped.to_series())
