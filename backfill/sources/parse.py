"""Blocks of bytes -> polars frames with row and line numbers, and `read` rejects. Pure.

A block holds whole records (the reader cuts it so). Each frame has the input's columns, all
strings for CSV, plus `__row` (the row's number in its input, from 0) and `__line` (its first
physical line, 1-based). Malformed records become rejects; the records after them are kept.

CSV has three paths, fastest first; each is taken only when it is exact:
1. marked: a marker field (a control character absent from the block) is appended to every
   physical line and polars parses the block once. A record with exactly the header's fields has
   the marker in the field after them; a short record has it earlier, a long one has a value
   there. Markers that landed inside a quoted field spanning lines are taken out again and the
   embedded lines counted. The short and long records (a few, in a messy export) are read
   again alone, each from its own lines, by Python's csv module, and rejected;
2. every record is one physical line (a blank line among them, say): count each line's
   separators outside quotes (vectorised);
3. otherwise Python's csv module parses the block record by record.
NDJSON blocks are in `parse_ndjson.py`.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import polars as pl

from backfill.contract import LINE, ROW, Parsed, Reject

csv.field_size_limit(2**31 - 1)  # a 10 MB field is a value to reject by size, not a crash

REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class CsvLayout:
    columns: tuple[str, ...]
    delimiter: str = ","
    quote: str = '"'


def _positional(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


def parse_csv_block(
    block: bytes, layout: CsvLayout, input_name: str, first_line: int, first_row: int,
    lossy: bool = False, spanned: set[str] | None = None,
) -> Parsed:
    """Parse a block of whole CSV records. `lossy`: the block had bytes invalid in its encoding.
    `spanned`: a set the reader keeps from block to block (see `_unmarked`); the result never
    depends on it."""
    n = len(layout.columns)
    if not block.strip(b"\r\n"):  # a flood of blank lines: no record, lines only
        schema = {**dict.fromkeys(layout.columns, pl.String), ROW: pl.Int64, LINE: pl.Int64}
        return Parsed(pl.DataFrame(schema=schema), [], 0, "blank", _physical_lines(block))
    # polars checks the UTF-8 as it reads: the block is decoded here only when the marked path
    # fails, to tell invalid bytes (read again, lossily) from malformed records
    parsed = _csv_marked(block, layout, input_name, first_line, first_row, lossy,
                         "utf8-lossy" if lossy else "utf8", repair=True, spanned=spanned)
    if parsed is None and not lossy:
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            lossy = True
            parsed = _csv_marked(block, layout, input_name, first_line, first_row, lossy,
                                 "utf8-lossy", repair=True, spanned=spanned)
    if parsed is None:
        try:
            df = _read(block, _positional(n), layout)  # parsed once; the line path reuses it
        except pl.exceptions.PolarsError:
            df = None  # e.g. a quote that is never closed: Python's csv module says where
        if df is not None:
            parsed = _csv_lines(df, block, layout, input_name, first_line, first_row, lossy)
    if parsed is None:
        parsed = _csv_exact(block, layout, input_name, first_line, first_row, lossy)
    parsed.frame = parsed.frame.rename(dict(zip(_positional(n), layout.columns, strict=True)))
    parsed.lines = parsed.lines or _physical_lines(block)
    return parsed


MARKERS = ("\x1f", "\x1e", "\x1d", "\x1c")


def _csv_marked(block: bytes, layout: CsvLayout, name: str, first_line: int, first_row: int,
                lossy: bool, encoding: str, repair: bool = False,
                spanned: set[str] | None = None) -> Parsed | None:
    """Path 1: None when the block is not exact this way (the next path then decides).
    `repair`: records with too few or too many fields are rejected, each read again alone by
    Python's csv module, instead of the block taking another path."""
    n = len(layout.columns)
    marker = _absent(block)
    if marker is None or n < 2 or not block:  # n == 1: a blank line would read as a record
        return None
    tail = (layout.delimiter + marker).encode()
    newlines = None
    if b"\r" in block:
        if block.count(b"\r") != block.count(b"\r\n"):
            return None
        marked = block.replace(b"\r\n", tail + b"\r\n")
    else:
        marked = block.replace(b"\n", tail + b"\n")
        newlines = (len(marked) - len(block)) // len(tail)  # counted by the replacement
    if not block.endswith(b"\n"):
        marked += tail
    try:
        df = _read(marked, [*_positional(n), "__end"], layout, encoding)
    except pl.exceptions.PolarsError:  # invalid UTF-8 with encoding="utf8", a bad quote...
        return None
    short_or_long = df.select((pl.col("__end") != marker).fill_null(True)).to_series()
    if short_or_long.any() and not repair:
        return None
    lines = _physical_lines(block, newlines)
    height = df.height
    index = pl.int_range(0, height, dtype=pl.Int64)
    line_expr = index + first_line
    if height != lines:  # quoted fields span lines: their markers come out, lines are counted
        unmarked = _unmarked(df, n, tail.decode(), "\r\n" if b"\r" in block else "\n", lines,
                             spanned)
        if unmarked is None:
            return None
        df, embedded = unmarked
        line_expr = index + first_line + embedded.cum_sum() - embedded
    df = df.select(pl.exclude("__end"), (index + first_row).alias(ROW), line_expr.alias(LINE))
    rejects: list[Reject] = []
    if short_or_long.any():  # each record's lines run to the next record's first line
        spans = df.select(ROW, LINE, pl.col(LINE).shift(-1, fill_value=first_line + lines)
                          .alias("__lines")).filter(short_or_long)
        found = _reread(spans, block, layout, name, first_line)
        if found is None:
            return None
        df, rejects = df.filter(~short_or_long), found
    if lossy:
        df, more = _split_invalid(df, layout.columns, name)
        rejects = sorted(rejects + more, key=lambda r: r.row)
    return Parsed(df, rejects, height, "marked" if not rejects else "marked+rejects", lines)


def _reread(bad: pl.DataFrame, block: bytes, layout: CsvLayout, name: str,
            first_line: int) -> list[Reject] | None:
    """The short and long records, each read alone from its own lines; None when one is
    not exactly one record (a blank line, say: not a row at all)."""
    physical = block.split(b"\n")
    rejects = []
    for row, line, next_line in bad.iter_rows():
        text = b"\n".join(physical[line - first_line:next_line - first_line]).decode(
            "utf-8", errors="replace").removesuffix("\r")
        try:
            records = list(csv.reader(io.StringIO(text, newline=""), strict=True,
                                      delimiter=layout.delimiter, quotechar=layout.quote))
        except csv.Error:
            return None
        if len(records) != 1 or len(records[0]) == len(layout.columns):
            return None
        fields = records[0]
        rejects.append(_field_count_reject(name, row, line, len(fields), len(layout.columns),
                                           fields, layout.columns))
    return rejects


def _unmarked(df: pl.DataFrame, n: int, tail: str, newline: str, lines: int,
              spanned: set[str] | None) -> tuple[pl.DataFrame, pl.Expr] | None:
    """The markers that landed inside quoted fields taken out, and each record's newlines inside
    its fields; None when those do not account for every physical line of the block.

    Every "\n" got a marker before it, inside the same quoted field: the columns holding a marker
    are the ones holding a newline. With "\r\n" endings a lone "\n" in a quoted field got none:
    it is looked for. `spanned` (kept by the reader, block to block): the columns that held such
    fields before, scanned alone first (a scan of every column is costly); when
    their newlines are all the block's, no other column holds one, as the lines are all counted.
    """
    every = _positional(n)
    hinted = [c for c in every if c in spanned] if spanned and newline == "\n" else []
    for columns in ([hinted] if hinted else []) + [every]:
        marked = _having(df, columns, tail[-1])
        fixed = df.with_columns(pl.col(c).str.replace_all(tail + newline, newline, literal=True)
                                for c in marked)
        spanning = marked if newline == "\n" else _having(fixed, every, "\n")
        if not spanning:
            continue
        embedded = pl.sum_horizontal(
            pl.col(c).str.count_matches("\n", literal=True) for c in spanning).cast(pl.Int64)
        if df.height + (fixed.select(embedded.sum()).item() or 0) == lines:
            if spanned is not None:
                spanned.update(spanning)
            return fixed, embedded
    return None


def _having(df: pl.DataFrame, columns: list[str], text: str) -> list[str]:
    """The columns where some value contains `text`."""
    hits = df.select(pl.col(c).str.contains(text, literal=True).any() for c in columns).row(0)
    return [c for c, hit in zip(columns, hits, strict=True) if hit]


def _absent(block: bytes) -> str | None:
    """A control character the block does not hold, to mark or split it with."""
    return next((m for m in MARKERS if m.encode() not in block), None)


def _read(data: bytes, names: list[str], layout: CsvLayout,
          encoding: str = "utf8-lossy") -> pl.DataFrame:
    """All fields as strings; fields beyond `names` are dropped, missing ones are empty."""
    return pl.read_csv(
        data, has_header=False, schema={c: pl.String for c in names},
        separator=layout.delimiter, quote_char=layout.quote, truncate_ragged_lines=True,
        empty_string_is_null=False, missing_columns="insert", encoding=encoding,
        raise_if_empty=False,
    )


def _physical_lines(block: bytes, newlines: int | None = None) -> int:
    count = block.count(b"\n") if newlines is None else newlines
    return count + (0 if not block or block.endswith(b"\n") else 1)


def _csv_lines(df: pl.DataFrame, block: bytes, layout: CsvLayout, name: str, first_line: int,
               first_row: int, lossy: bool) -> Parsed | None:
    """Every record is one physical line: count each line's separators outside quotes."""
    n = len(layout.columns)
    sep = _absent(block)
    if sep is None or block.count(b"\r") != block.count(b"\r\n"):
        return None  # a lone carriage return: Python's csv module knows what it means
    raw = pl.read_csv(
        block, has_header=False, schema={"l": pl.String}, separator=sep, quote_char=None,
        empty_string_is_null=False, encoding="utf8-lossy", raise_if_empty=False,
        missing_columns="insert",
    )
    if raw.height != df.height or raw.height != _physical_lines(block):
        return None  # a quoted field spans lines
    line = raw.get_column("l").str.strip_suffix("\r")
    bare = line
    if layout.quote.encode() in block:
        q = re.escape(layout.quote)
        bare = line.str.replace_all(f"{q}[^{q}]*{q}", "")
    fields = bare.str.count_matches(layout.delimiter, literal=True) + 1
    blank = line == ""
    good = (fields == n) & ~blank
    rowno = (~blank).cast(pl.Int64).cum_sum() - 1 + first_row
    lineno = pl.Series(LINE, range(first_line, first_line + raw.height), dtype=pl.Int64)
    df = df.with_columns(rowno.alias(ROW), lineno)
    rejects = []
    bad = (~good & ~blank)
    if bad.any():
        for text, count, row, ln in zip(
            line.filter(bad), fields.filter(bad), rowno.filter(bad), lineno.filter(bad),
            strict=True,
        ):
            values = next(csv.reader([text], delimiter=layout.delimiter, quotechar=layout.quote))
            rejects.append(_field_count_reject(name, row, ln, count, n, values, layout.columns))
    df = df.filter(good)
    records = int((~blank).sum())
    if lossy:
        df, more = _split_invalid(df, layout.columns, name)
        rejects = sorted(rejects + more, key=lambda r: r.row)
    return Parsed(df, rejects, records, "lines")


def _csv_exact(block: bytes, layout: CsvLayout, name: str, first_line: int,
               first_row: int, lossy: bool) -> Parsed:
    n = len(layout.columns)
    text = block.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter,
                        quotechar=layout.quote, strict=True)
    good: list[list[str]] = []
    rows: list[int] = []
    lines: list[int] = []
    rejects: list[Reject] = []
    row = first_row
    prev_end = 0
    while True:
        try:
            rec = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a malformed quote, say; the next record is read on
            start = prev_end + first_line
            prev_end = reader.line_num
            end = prev_end + first_line - 1
            if "unexpected end of data" in str(exc):
                reason = (f"a quoted field opened on line {start} is never closed: lines "
                          f"{start} to {end} (the end of the input) cannot be read as records")
            else:
                reason = f"malformed CSV record on lines {start} to {end}: {exc}"
            rejects.append(Reject(name, row, start, None, reason, "read", None,
                                  "malformed record"))
            row += 1
            continue
        start = prev_end + first_line
        prev_end = reader.line_num
        if not rec:
            continue  # a blank line is not a row
        if len(rec) != n:
            rejects.append(_field_count_reject(name, row, start, len(rec), n, rec,
                                               layout.columns))
        elif lossy and any(REPLACEMENT in v for v in rec):
            rejects.append(_invalid_reject(name, row, start, dict(zip(layout.columns, rec,
                                                                      strict=True))))
        else:
            good.append(rec)
            rows.append(row)
            lines.append(start)
        row += 1
    cols = _positional(n)
    frame = pl.DataFrame(good, schema={c: pl.String for c in cols}, orient="row")
    frame = frame.with_columns(pl.Series(ROW, rows, dtype=pl.Int64),
                               pl.Series(LINE, lines, dtype=pl.Int64))
    return Parsed(frame, rejects, row - first_row, "exact")


def _field_count_reject(name: str, row: int, line: int, count: int, n: int, fields: list[str],
                        columns: tuple[str, ...]) -> Reject:
    record: dict[str, object] = dict(zip(columns, fields, strict=False))
    if count > n:
        record["_extra_fields"] = fields[n:]
    which = "too many" if count > n else "too few"
    return Reject(name, row, line, None,
                  f"{which} fields: {count} where the header has {n}", "read", record,
                  f"{which} fields")


def _invalid_reject(name: str, row: int, line: int, record: object) -> Reject:
    return Reject(name, row, line, None,
                  "bytes that are not valid in the declared encoding (shown as U+FFFD); if the "
                  "file is not UTF-8, set source.csv.encoding (latin-1, cp1252 ...)",
                  "read", record, "invalid encoding")


def _split_invalid(df: pl.DataFrame, columns: tuple[str, ...],
                   name: str) -> tuple[pl.DataFrame, list[Reject]]:
    """Rows holding U+FFFD came from undecodable bytes: reject them."""
    cols = _positional(len(columns))
    bad = pl.any_horizontal(pl.col(c).str.contains(REPLACEMENT, literal=True) for c in cols)
    flagged = df.filter(bad)
    rejects = [
        _invalid_reject(name, r[-2], r[-1], dict(zip(columns, r[:-2], strict=True)))
        for r in flagged.select(*cols, ROW, LINE).iter_rows()
    ]
    return df.filter(~bad), rejects
