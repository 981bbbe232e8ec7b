"""Files, globs and stdin -> chunks of rows, streamed in blocks: memory stays flat.

The reader owns the I/O: it finds the inputs, decompresses (.gz, .zst) and transcodes to UTF-8 as
a stream, cuts the stream into blocks of whole records, and hands each block to `parse` (pure).
Parquet is read by polars' own streaming engine, in batches.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, ClassVar

import polars as pl

from backfill.contract import LINE, ROW, CsvOptions, Parsed, offset
from backfill.errors import InputError
from backfill.sources import remote
from backfill.sources.identity import file_fingerprint, identity, unchanged
from backfill.sources.parse import CsvLayout, parse_csv_block
from backfill.sources.parse_ndjson import known_schema, parse_ndjson_block
from backfill.sources.sniff import other_delimiter, shown
from backfill.sources.streams import Counted, blocks, open_bytes, pieces, utf8_pieces
from backfill.storage import shown as redacted_url

BLOCK_BYTES = 4 * 1024 * 1024
# when each row is a request of its own (form submissions): a block's requests are objects held
# until sent, and 4 MB of forms is about 100,000 of them: smaller blocks hold fewer at once
REQUEST_A_ROW_BLOCK_BYTES = 1024 * 1024
HEADER_BYTES = 64 * 1024  # read to check a CSV's columns (a longer header is read on to its end)
PARQUET_ROWS = 100_000


@dataclass(frozen=True)
class Input:
    """One input: a path (or '-' for stdin), its display name, format and compression."""

    path: str
    format: str
    compression: str | None = None

    @property
    def name(self) -> str:
        return "<stdin>" if self.path == "-" else redacted_url(self.path)

    unit: ClassVar[str] = "B"
    resumable: ClassVar[bool] = True  # stdin too: the same data piped again is skipped alike
    keyed: ClassVar[bool] = False

    def size(self) -> int:
        try:
            if remote.is_url(self.path):
                return remote.size(self.path)
            return 0 if self.path == "-" else os.path.getsize(self.path)
        except (OSError, InputError):
            return 0

    def columns(self, csv: CsvOptions) -> list[str] | None:
        """A CSV's header needs only its first lines; NDJSON's columns come from its first
        block; stdin can be read once only: its columns are checked as it is read."""
        columns, reader = self.opened(csv)
        if reader is not None:
            reader.close()
        return columns

    def opened(self, csv: CsvOptions, block_bytes: int | None = None
               ) -> tuple[list[str] | None, InputReader | None]:
        """`columns`, and for a local NDJSON file the reader that found them, which can serve
        as `open`'s while the file is the same (`InputReader.current`): it has read and parsed
        the first block, and nothing more."""
        if self.path == "-":
            return None, None
        reader = InputReader(self, csv, HEADER_BYTES if self.format == "csv" else
                             block_bytes or BLOCK_BYTES)
        if self.format == "ndjson" and reader.current():
            return reader.columns, reader
        try:
            return reader.columns, None
        finally:
            reader.close()

    def open(self, csv: CsvOptions, block_bytes: int | None = None) -> InputReader:
        return InputReader(self, csv, block_bytes or BLOCK_BYTES)

    def fingerprint(self) -> dict[str, Any]:
        return file_fingerprint(self.path)


@dataclass
class Chunk:
    """Rows of one input: the frame (columns + __row + __line), the read rejects, progress."""

    input: Input
    frame: pl.DataFrame
    rejects: list = field(default_factory=list)
    records: int = 0
    bytes_done: int = 0  # bytes of the (compressed) input consumed so far


# -- readers -----------------------------------------------------------------------------------


class InputReader:
    """Reads one input: `columns` first (without reading the data), then `chunks()`."""

    first_row = 0

    def __init__(self, inp: Input, csv_options: CsvOptions, block_bytes: int = BLOCK_BYTES):
        self.input = inp
        self.options = csv_options
        self.block_bytes = block_bytes
        self.warnings: list[str] = []
        self.columns: list[str] = []
        self._counted: Counted | None = None
        self._blocks: Iterator[tuple[bytes, bool]] | None = None
        self._first: tuple[bytes, bool] | None = None
        self._temp: str | None = None
        self._header_lines = 0
        self._first_parsed: Parsed | None = None
        self._wanted: list[str] | None = None
        self._stat = identity(inp.path)
        self._open()

    def current(self) -> bool:
        """Whether a local file is still the one this reader opened (the same inode, size and
        modification time): a reader kept from the plan is used only then."""
        return self._stat is not None and identity(self.input.path) == self._stat

    def check_unchanged(self) -> None:
        """At the end of its reading: `InputChanged` if the file changed since it was opened."""
        unchanged(self._stat, self.input.path, self.input.name)

    @property
    def schema(self) -> dict[str, pl.DataType] | None:
        """The columns' types where reading began: a CSV's are text, an NDJSON file's those of
        its first block, a Parquet file's its own (None before a first block)."""
        if self.input.format == "csv":
            return dict.fromkeys(self.columns, pl.String)
        if self.input.format == "parquet":
            return dict(self._lazy.collect_schema())
        if self._first_parsed is None:
            return None
        return {c: t for c, t in self._first_parsed.frame.schema.items() if c not in (ROW, LINE)}

    def read_only(self, columns: list[str]) -> None:
        """Later NDJSON blocks may be read for these columns only (`parse_ndjson.known_schema`)."""
        self._wanted = columns

    @property
    def first_line(self) -> int:
        """The line number of the first data line (after the header)."""
        return self._header_lines + 1

    @property
    def bytes_done(self) -> int:
        return self._counted.count if self._counted else 0

    def _open(self) -> None:
        fmt = self.input.format
        if fmt == "parquet":
            self._open_parquet()
            return
        stream, self._counted = open_bytes(self.input.path, self.input.compression,
                                           self.input.name)
        chunks = pieces(self.input.name, stream)
        encoding = self.options.encoding if fmt == "csv" else "utf8"
        utf8 = utf8_pieces(chunks, encoding)
        quote = self.options.quote.encode() if fmt == "csv" else None
        self._blocks = blocks(utf8, quote, self.block_bytes, self.options.max_record_bytes,
                              self.input.name)
        self._first = next(self._blocks, None)
        if fmt == "csv":
            self._read_header()
        elif self._first is not None:
            self._first_parsed = parse_ndjson_block(self._first[0], self.input.name, 1, 0)
            self.columns = [c for c in self._first_parsed.frame.columns if c not in (ROW, LINE)]
        if self._first is None:
            self.warnings.append(f"{self.input.name} is empty: no rows")

    def _read_header(self) -> None:
        if self._first is None:
            return
        block, lossy = self._first
        text = block[: 1024 * 1024].decode("utf-8", errors="replace")
        reader, header = self._header(text)
        other = other_delimiter(text, header) if self.options.detect else None
        if other is not None:
            self.warnings.append(
                f"{self.input.name}: the header has no '{self.options.delimiter}' but "
                f"{text.partition(chr(10))[0].count(other)} '{shown(other)}': read with "
                f"delimiter '{shown(other)}' (set source.csv.delimiter to say so)")
            self.options = replace(self.options, delimiter=other)
            reader, header = self._header(text)
        if not self.options.header:
            self.columns = [f"column_{i + 1}" for i in range(len(header))]
            return
        self._header_lines = reader.line_num
        pos = 0
        for _ in range(self._header_lines):
            pos = block.index(b"\n", pos) + 1 if b"\n" in block[pos:] else len(block)
        self._first = (block[pos:], lossy)
        self.columns = self._name_columns(header)

    def _header(self, text: str) -> tuple[Any, list[str]]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.options.delimiter,
                            quotechar=self.options.quote)
        try:
            return reader, next(reader)
        except (StopIteration, csv.Error) as exc:
            raise InputError(self.input.name, f"cannot read the header: {exc}", 1) from None

    def _name_columns(self, header: list[str]) -> list[str]:
        names: list[str] = []
        for i, raw in enumerate(header):
            name = raw.strip() or f"column_{i + 1}"
            if "\ufffd" in name:
                raise InputError(self.input.name, "the header has bytes that are not valid in "
                                 f"the declared encoding ('{self.options.encoding}'); set "
                                 "source.csv.encoding (latin-1, cp1252 ...)", 1)
            base, k = name, 2
            while name in names:
                name = f"{base}_{k}"
                k += 1
            if name != base:
                self.warnings.append(f"{self.input.name}: column '{base}' appears more than "
                                     f"once; column {i + 1} is read as '{name}'")
            names.append(name)
        return names

    def _open_parquet(self) -> None:
        path = self.input.path
        if self.input.path == "-" or self.input.compression:
            stream, self._counted = open_bytes(self.input.path, self.input.compression,
                                               self.input.name)
            fd, self._temp = tempfile.mkstemp(suffix=".parquet", prefix="backfill-")
            with os.fdopen(fd, "wb") as out:
                for piece in pieces(self.input.name, stream):
                    out.write(piece)
            path = self._temp
        try:
            self._lazy = pl.scan_parquet(path)
            self.columns = list(self._lazy.collect_schema().names())
        except Exception as exc:
            raise InputError(self.input.name, f"not a readable Parquet file: {exc}") from None

    def tasks(self) -> Iterator[tuple[Callable[[], Parsed], int]]:
        """In order: (a thunk that parses the next block, bytes of the input read so far).

        The thunks are pure and may run in other threads, in any order: each numbers its rows
        from 0 and its lines from 1; `offset` makes both absolute once the rows and lines of the
        blocks before it are known (the first block's first line is `first_line`).
        """
        if self.input.format == "parquet":
            yield from self._parquet_tasks()
            return
        rest = self._blocks
        if self._first is None or rest is None:
            return
        first = self._first
        self._first = None
        name = self.input.name
        known = None if self._wanted is None or self._first_parsed is None else \
            known_schema(self._first_parsed.frame.schema, self._wanted)
        spanned: set[str] = set()  # CSV columns with quoted newlines so far (parse.py)
        for block, lossy in _chain(first, rest):
            if self._first_parsed is not None:
                parsed, self._first_parsed = self._first_parsed, None
                yield (lambda parsed=parsed: parsed), self.bytes_done
            elif self.input.format == "csv":
                layout = CsvLayout(tuple(self.columns), self.options.delimiter, self.options.quote)
                yield (partial(parse_csv_block, block, layout, name, 1, 0, lossy, spanned),
                       self.bytes_done)
            else:
                yield partial(parse_ndjson_block, block, name, 1, 0, known), self.bytes_done

    def chunks(self) -> Iterator[Chunk]:
        """The input's chunks, parsed here, in order, with absolute row numbers."""
        row, line = 0, self.first_line
        for task, done in self.tasks():
            parsed = offset(task(), row, line)
            row, line = row + parsed.records, line + parsed.lines
            yield Chunk(self.input, parsed.frame, parsed.rejects, parsed.records, done)

    def _parquet_tasks(self) -> Iterator[tuple[Callable[[], Parsed], int]]:
        """Slices of PARQUET_ROWS rows, each read by its thunk in whichever thread runs it
        (polars reads only the pages a slice needs): the reading is spread over the pool, as the
        parsing of CSV blocks is. The file stays until `close`."""
        size = self.input.size() or 1
        try:
            total = self._lazy.select(pl.len()).collect().item()
        except Exception as exc:
            raise InputError(self.input.name, f"cannot read the Parquet file: {exc}") from None
        rows = PARQUET_ROWS * self.block_bytes // BLOCK_BYTES  # fewer with smaller blocks
        for start in range(0, total, rows):
            n = min(rows, total - start)
            done = int(size * (start + n) / total)
            yield partial(_parquet_slice, self._lazy, self.input.name, start, n), done

    def close(self) -> None:
        if self._temp:
            os.unlink(self._temp)
            self._temp = None


def _parquet_slice(lazy: pl.LazyFrame, name: str, start: int, n: int) -> Parsed:
    try:
        df = lazy.slice(start, n).collect()
    except Exception as exc:
        raise InputError(name, f"cannot read the Parquet file at row {start}: {exc}") from None
    frame = df.with_columns(pl.int_range(0, df.height, dtype=pl.Int64).alias(ROW),
                            pl.lit(None, dtype=pl.Int64).alias(LINE))
    return Parsed(frame, [], df.height, "parquet")


def _chain(first: tuple[bytes, bool], rest: Iterator[tuple[bytes, bool]]
           ) -> Iterator[tuple[bytes, bool]]:
    yield first
    yield from rest
