"""Relationships from a list column: one relationship per element of the list.

`object_id: member_ids` where `member_ids` is a list (a Parquet or NDJSON array) makes one
relationship per member; `object_id: "companies[].id"` with `attributes: {role:
"companies[].role"}` reads each element's fields when the elements are objects. Every value of
such a relationship comes from the same list's elements, or is a literal (`{value: "1"}`).
Elements whose identifiers are empty are left out. Pure.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import polars as pl

from backfill.mapping import limits
from backfill.mapping.convert import convert
from backfill.mapping.model import Relationship, Value

EACH = "[]"


@dataclass
class Listed:
    """A relationship made per element: a list of relationship structs a row, its limit checks,
    the problems found compiling it, and the keys whose empty values go."""

    expr: pl.Expr
    limits: list[pl.Expr]
    problems: list[str]
    keys: set[str]


def list_root(column: str, schema: pl.Schema) -> tuple[str, list[str]] | None:
    """(the list column, the fields read in each element) when `column` names a list or the
    elements' fields (`companies[].id`); None otherwise."""
    if column in schema and isinstance(schema[column], pl.List | pl.Array):
        return column, []
    if EACH not in column:
        return None
    root, _, rest = column.partition(EACH)
    if root not in schema or not isinstance(schema[root], pl.List | pl.Array) or (
            rest and not rest.startswith(".")):
        return None
    return root, [f for f in rest.split(".") if f]


def per_element(rel: Relationship, schema: pl.Schema, where: str, skip: bool) -> Listed | None:
    """The relationship as one per element of its list, or None when it reads no list."""
    roots = {v.column: list_root(v.column, schema) for _, v in (*rel.identifiers,
                                                                 *rel.attributes) if v.column}
    lists = {found[0] for found in roots.values() if found}
    problems: list[str] = [f"{where}: column '{c}': '{c.partition(EACH)[0]}' is not a list"
                           for c, found in roots.items() if found is None and EACH in c]
    if not lists:
        return Listed(pl.lit(None), [], problems, set()) if problems else None
    if len(lists) > 1 or any(found is None for found in roots.values()):
        problems.append(f"{where}: made from the list '{sorted(lists)[0]}', so each of its values "
                        "is a field of that list's elements (companies[].id) or a literal "
                        "({value: ...}); other columns cannot be read per element")
        return Listed(pl.lit(None), [], problems, set())
    root = lists.pop()
    inner = schema[root].inner  # type: ignore[union-attr]
    ids, present, checks = [], [], []
    for name, v in rel.identifiers:
        expr, dtype = _element(v, roots, inner, f"{where} identifier '{name}'", problems,
                               single=True)
        text = (expr if dtype == pl.String else expr.cast(pl.String)).str.strip_chars()
        ids.append(text.alias(name))
        present.append(text.is_not_null() & (text != ""))
        longest = pl.col(root).list.eval(text.str.len_bytes()).list.max()
        checks.append(pl.when(longest > limits.MAX_ID_BYTES).then(pl.format(
            "{} identifier '{}' is {} bytes; the limit is {}", pl.lit(where), pl.lit(name),
            longest, pl.lit(limits.MAX_ID_BYTES))))
    members = [pl.struct(ids).alias("identifiers")]
    keys = set()
    if rel.attributes:
        fields = []
        for name, v in rel.attributes:
            expr, dtype = _element(v, roots, inner, f"{where} attribute '{name}'", problems)
            value, _ = convert(expr, dtype, v.as_, v.time)
            fields.append(value.alias(name))
            if skip:
                keys.add(name)
        members.append(pl.struct(fields).alias("relationship_attributes"))
    every = pl.struct(members).filter(pl.all_horizontal(present))
    return Listed(pl.col(root).list.eval(every), checks, problems, keys)


def _element(v: Value, roots: dict, inner: pl.DataType, where: str, problems: list[str],
             single: bool = False) -> tuple[pl.Expr, pl.DataType]:
    """A value of each element: a literal, the element itself, or a field of it; `single`: an
    identifier, which must be one value (not an object or a list)."""
    if v.column is None:
        return pl.lit(v.literal), pl.String if isinstance(v.literal, str) else pl.Float64
    expr, dtype = pl.element(), inner
    for field in roots[v.column][1]:
        if not isinstance(dtype, pl.Struct):
            problems.append(f"{where}: the elements of the list are not objects; write the "
                            "list's name alone to take each element")
            return pl.lit(None, dtype=pl.String), pl.String
        names = [f.name for f in dtype.fields]
        if field not in names:
            hint = difflib.get_close_matches(field, names, n=1)
            problems.append(f"{where}: the list's elements have no field '{field}'" + (
                f"; did you mean '{hint[0]}'?" if hint else f" (they have {', '.join(names)})"))
            return pl.lit(None, dtype=pl.String), pl.String
        expr, dtype = expr.struct.field(field), dict(zip(names, (f.dtype for f in dtype.fields),
                                                         strict=True))[field]
    if single and isinstance(dtype, pl.Struct | pl.List | pl.Array):
        problems.append(f"{where}: each element is an object; name its field "
                        f"({v.column}[].id, say)")
    return expr, dtype
