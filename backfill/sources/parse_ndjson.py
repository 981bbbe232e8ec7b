"""NDJSON blocks -> rows. Pure: a block of whole lines in, a frame of its JSON objects out, with
each line that is not a JSON object rejected (stage `read`) and the lines after it kept.

polars reads a block at once; only a block it cannot read (a bad line somewhere) is read line by
line with orjson to find which lines are bad.

Inferring a block's types is three quarters of its reading (40 of 50 ms for 4 MB): a block after
the first is read only for the mapping's columns, with the types the first block gave them
(`known_schema`), when that provably gives what inference would (`_read_known`).
"""

from __future__ import annotations

import orjson
import polars as pl

from backfill.contract import LINE, ROW, Parsed, Reject
from backfill.sources.parse import _physical_lines

# Types whose reading with a given schema fails on a value of another JSON type, or (String,
# Float64) takes it as inference would once one line of the block shows the type (see below).
SCALARS = (pl.String, pl.Int64, pl.Float64, pl.Boolean)
SAMPLE_LINES = 64  # a block's first lines, whose values prove the known schema holds


def known_schema(first: pl.Schema, columns: list[str]) -> pl.Schema | None:
    """The schema to read later blocks with: the mapping's `columns` with the types the first
    block inferred, or None when one of them is not a plain scalar (a list, an object, all
    null) or was absent (nested types can gain fields that a given schema would drop)."""
    if any(c not in first or first[c] not in SCALARS for c in columns):
        return None
    return pl.Schema({c: first[c] for c in columns})


def parse_ndjson_block(block: bytes, input_name: str, first_line: int, first_row: int,
                       known: pl.Schema | None = None) -> Parsed:
    """Parse a block of whole NDJSON lines; lines that are not JSON objects are rejected.
    With `known` (see `known_schema`), only its columns are read when that gives the frame
    inference would; the frame of every column is then `Parsed.reread`."""
    lines = _physical_lines(block)
    if not block.strip():  # a flood of blank lines: no record, lines only
        return Parsed(_numbered(pl.DataFrame(), first_line, first_row), [], 0, "blank", lines)
    df = _read_known(block, known, lines) if known is not None else None
    if df is not None:
        def reread() -> pl.DataFrame:
            return parse_ndjson_block(block, input_name, first_line, first_row).frame
        return Parsed(_numbered(df, first_line, first_row), [], lines, "known", lines, reread)
    try:
        df = pl.read_ndjson(block, infer_schema_length=None) if block.strip() else pl.DataFrame()
    except Exception:  # polars raises several error types for bad lines: take the exact path
        df = None
    if df is not None and df.height == lines:
        return Parsed(_numbered(df, first_line, first_row), [], lines, "fast", lines)
    return _ndjson_exact(block, input_name, first_line, first_row, known)


def _numbered(df: pl.DataFrame, first_line: int, first_row: int) -> pl.DataFrame:
    index = pl.int_range(0, df.height, dtype=pl.Int64)
    return df.select(pl.all(), (index + first_row).alias(ROW), (index + first_line).alias(LINE))


def _read_known(block: bytes, known: pl.Schema, lines: int) -> pl.DataFrame | None:
    """The block's `known` columns, or None unless they are what inference over the whole block
    would give. Read with a schema, a column of Int64 or Boolean fails on any other JSON type;
    Float64 takes whole numbers too, and String takes every type as text. Inference gives a
    column the common type of its values (Float64 for whole and decimal numbers, String once
    one value is text), so values of the known types in the block's first lines prove the whole
    block's. A column absent from those lines, or all null there, proves nothing: None."""
    end = 0
    for _ in range(SAMPLE_LINES):
        end = block.find(b"\n", end) + 1
        if not end:
            end = len(block)
            break
    try:
        sample = [orjson.loads(line) for line in block[:end].splitlines() if line.strip()]
        if not all(_proves([o.get(c) for o in sample], t) for c, t in known.items()):
            return None
        df = pl.read_ndjson(block, schema=known)
    except Exception:  # a bad line, or a value of another type: inference decides
        return None
    return df if df.height == lines else None


def _proves(values: list, dtype: pl.DataType) -> bool:
    """Whether these values (a column of the sample, parsed) show that inference over any lines
    holding them gives `dtype`, given that the other lines read with it."""
    present = [v for v in values if v is not None]
    if dtype == pl.String:
        return any(isinstance(v, str) for v in present)
    if not present or any(isinstance(v, bool) for v in present) != (dtype == pl.Boolean):
        return False
    if dtype == pl.Boolean:
        return all(isinstance(v, bool) for v in present)
    whole = [v for v in present if type(v) is int]
    if any(not -2**63 <= v < 2**63 for v in whole):
        return False  # polars reads a bigger number as another type
    decimal = [v for v in present if type(v) is float]
    if len(whole) + len(decimal) < len(present):
        return False
    return bool(decimal) if dtype == pl.Float64 else not decimal


def _ndjson_exact(block: bytes, name: str, first_line: int, first_row: int,
                  known: pl.Schema | None = None) -> Parsed:
    good: list[bytes] = []
    rows: list[int] = []
    linenos: list[int] = []
    rejects: list[Reject] = []
    row = first_row
    for i, raw in enumerate(block.split(b"\n")):
        text = raw.strip()
        if not text:
            continue
        line = first_line + i
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            record = raw.decode("utf-8", errors="replace")
            kind = "invalid encoding" if "utf-8" in str(exc).lower() else "not JSON"
            rejects.append(Reject(name, row, line, None, f"line is not valid JSON: {exc}",
                                  "read", record, kind))
            row += 1
            continue
        if not isinstance(value, dict):
            kind = type(value).__name__
            article = {"list": "an array", "str": "a string", "int": "a number",
                       "float": "a number", "bool": "a boolean", "NoneType": "null"}.get(kind, kind)
            rejects.append(Reject(name, row, line, None,
                                  f"line is {article}, not a JSON object", "read", value,
                                  "not an object"))
        else:
            good.append(text)
            rows.append(row)
            linenos.append(line)
        row += 1
    df, reread = None, None
    if known is not None and good:  # the good lines, as the known path reads a whole block
        df = _read_known(b"\n".join(good), known, len(good))
        if df is not None:
            def reread() -> pl.DataFrame:
                return _ndjson_exact(block, name, first_line, first_row).frame
    if df is None:
        df = _read_objects(good) if good else pl.DataFrame()
    df = df.with_columns(pl.Series(ROW, rows, dtype=pl.Int64),
                         pl.Series(LINE, linenos, dtype=pl.Int64))
    return Parsed(df, rejects, row - first_row, "exact", _physical_lines(block), reread)


def _read_objects(lines: list[bytes]) -> pl.DataFrame:
    """JSON object lines as a frame. A key whose values have no common type (`true` and `0`,
    an object and a number) is read as text, as polars reads every value of a key once one of
    them is text (the same text: polars writes it); then, if polars still finds no types, every
    key with objects or lists, then every key."""
    data = b"\n".join(lines)
    try:
        return pl.read_ndjson(data, infer_schema_length=None)
    except Exception:  # noqa: BLE001 - polars raises several types for types without a common one
        pass
    objects = [orjson.loads(line) for line in lines]
    kinds: dict[str, set[str]] = {}  # in the order keys first appear, as polars orders them
    for obj in objects:
        for key, value in obj.items():
            kinds.setdefault(key, set()).add(_kind(value))
    mixed = {k for k, found in kinds.items() if len(found - {"null"}) > 1}
    nested = {k for k, found in kinds.items() if found & {"object", "list"}}
    for as_text in (mixed, mixed | nested, set(kinds)):
        try:
            texts = pl.read_ndjson(data, schema={k: pl.String for k in kinds if k in as_text})
            rest = [{k: v for k, v in obj.items() if k not in as_text} for obj in objects]
            typed = pl.read_ndjson(b"\n".join(map(orjson.dumps, rest)), infer_schema_length=None)
        except Exception:  # noqa: BLE001
            if as_text == set(kinds):
                raise
            continue
        if typed.width:
            texts = pl.concat([texts, typed], how="horizontal")
        return texts.select(list(kinds))
    raise AssertionError("unreachable")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return {int: "number", float: "number", str: "text", dict: "object", list: "list"
            }.get(type(value), "other")
