"""Paths into nested values, wherever a mapping names a column: `customer.id` (a field of an
object), `items[0].sku` (an element of a list, from 0, then its field), `a.b[2]`. A column whose
name is literally the whole path wins; otherwise the longest dotted start of the path that is a
column is the root. Pure.

A path becomes a column of the chunk named by the path (`with_paths`), so the rest of the
mapping reads it as any other column: its conversions, `when:`, identifiers and relationships.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import polars as pl

from backfill.errors import MappingError, Problem

Step = str | int  # a field's name, or a list's index


def split(name: str) -> list[Step] | None:
    """The steps of a path (`items[0].sku` -> ['items', 0, 'sku']); None for a name that is not
    one (no `.` or `[`, or not well formed: it is then only a column's name)."""
    if "." not in name and "[" not in name:
        return None
    steps: list[Step] = []
    key, i = "", 0
    while i < len(name):
        ch = name[i]
        if ch == ".":
            if not key and (not steps or isinstance(steps[-1], str)):
                return None  # `a..b`, `.a`
            if key:
                steps.append(key)
            key = ""
        elif ch == "[":
            end = name.find("]", i)
            index = name[i + 1:end] if end > 0 else ""
            if not index.isdigit() or (not key and not steps):
                return None
            if key:
                steps.append(key)
            key = ""
            steps.append(int(index))
            i = end
        elif ch == "]":
            return None
        else:
            key += ch
        i += 1
    if key:
        steps.append(key)
    elif name.endswith("."):
        return None
    return steps if len(steps) > 1 else None


def root_of(name: str, columns: list[str] | set[str]) -> tuple[str, list[Step]] | None:
    """(root column, the steps after it) for a path whose start is a column; None otherwise.
    The longest dotted start wins (a column `a.b` before a column `a`)."""
    steps = split(name)
    if steps is None:
        return None
    leading = 0
    while leading < len(steps) and isinstance(steps[leading], str):
        leading += 1
    for n in range(leading, 0, -1):
        root = ".".join(str(s) for s in steps[:n])
        if root in columns and n < len(steps):
            return root, steps[n:]
    return None


@dataclass(frozen=True)
class Resolved:
    expr: pl.Expr
    dtype: pl.DataType


def resolve(name: str, schema: pl.Schema | dict[str, pl.DataType]) -> Resolved | str | None:
    """The expression for path `name` in a chunk of this schema; a problem's text when the
    path cannot be there (a field that is not in the object, a list read as an object); None
    when its root is not a column."""
    found = root_of(name, set(schema))
    if found is None:
        return None
    root, steps = found
    expr, dtype, where = pl.col(root), schema[root], root
    for step in steps:
        if dtype == pl.Null:  # every value null in this chunk: so is the path
            return Resolved(pl.lit(None, dtype=pl.String), pl.String)
        if isinstance(step, int):
            if not isinstance(dtype, pl.List | pl.Array):
                return f"'{where}' is {_kind(dtype)}, not a list: {where}[{step}] reads nothing"
            expr, dtype = expr.list.get(step, null_on_oob=True), dtype.inner
            where = f"{where}[{step}]"
            continue
        if isinstance(dtype, pl.List | pl.Array):
            return (f"'{where}' is a list: write {where}[0].{step} for its first element's "
                    f"'{step}' (or map the list whole)")
        if not isinstance(dtype, pl.Struct):
            return f"'{where}' is {_kind(dtype)}, not an object: it has no field '{step}'"
        fields = {f.name: f.dtype for f in dtype.fields}
        if step not in fields:
            hint = difflib.get_close_matches(step, list(fields), n=1, cutoff=0.6)
            known = f"did you mean '{where}.{hint[0]}'?" if hint else \
                "its fields: " + ", ".join(list(fields)[:12])
            return f"'{where}' has no field '{step}'; {known}"
        expr, dtype = expr.struct.field(step), fields[step]
        where = f"{where}.{step}"
    return Resolved(expr, dtype)


def _kind(dtype: pl.DataType) -> str:
    if dtype == pl.String:
        return "text"
    if dtype.is_numeric():
        return "a number"
    return f"a {dtype}"


def with_paths(frame: pl.DataFrame, wanted: dict[str, int], mapping_path: str) -> pl.DataFrame:
    """The chunk with a column for each path `wanted` (name -> its line in the mapping) that is
    not a column itself. A root or field absent from this chunk (sparse NDJSON) gives nulls; a
    path that cannot be there (text read as an object) is a mapping error."""
    added, problems = [], []
    for name, line in wanted.items():
        if name in frame.columns:
            continue
        got = resolve(name, frame.schema)
        if isinstance(got, Resolved):
            added.append(got.expr.alias(name))
        elif got is None or "has no field" in got:
            added.append(pl.lit(None, dtype=pl.String).alias(name))
        else:
            problems.append(Problem(line, f"column '{name}': {got}"))
    if problems:
        raise MappingError(mapping_path, problems)
    return frame.with_columns(added) if added else frame


def roots(names: list[str], columns: list[str]) -> list[str]:
    """The columns a mapping's names read: a path's root for a path."""
    out = []
    for name in names:
        if name not in columns and "[]" in name:  # a list's elements (`elements.py`)
            name = name.partition("[]")[0]
        found = None if name in columns else root_of(name, set(columns))
        out.append(found[0] if found else name)
    return list(dict.fromkeys(out))
