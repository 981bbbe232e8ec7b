"""NDJSON blocks -> rows. Pure: a block of whole lines in, a frame of its JSON objects out, with
each line that is not a JSON object rejected (stage `read`) and the lines after it kept.

polars reads a block at once; only a block it cannot read (a bad line somewhere) is read line by
line with orjson to find which lines are bad.
"""

from __future__ import annotations

import orjson
import polars as pl

from backfill.contract import LINE, ROW, Parsed, Reject
from backfill.sources.parse import _physical_lines


def parse_ndjson_block(block: bytes, input_name: str, first_line: int, first_row: int) -> Parsed:
    """Parse a block of whole NDJSON lines; lines that are not JSON objects are rejected."""
    lines = _physical_lines(block)
    try:
        df = pl.read_ndjson(block, infer_schema_length=None) if block.strip() else pl.DataFrame()
    except Exception:  # polars raises several error types for bad lines: take the exact path
        df = None
    if df is not None and df.height == lines:
        index = pl.int_range(0, df.height, dtype=pl.Int64)
        df = df.select(pl.all(), (index + first_row).alias(ROW),
                       (index + first_line).alias(LINE))
        return Parsed(df, [], lines, "fast", lines)
    return _ndjson_exact(block, input_name, first_line, first_row)


def _ndjson_exact(block: bytes, name: str, first_line: int, first_row: int) -> Parsed:
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
    df = pl.read_ndjson(b"\n".join(good), infer_schema_length=None) if good else pl.DataFrame()
    df = df.with_columns(pl.Series(ROW, rows, dtype=pl.Int64),
                         pl.Series(LINE, linenos, dtype=pl.Int64))
    return Parsed(df, rejects, row - first_row, "exact", _physical_lines(block))
