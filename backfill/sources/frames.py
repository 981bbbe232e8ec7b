"""Rows a program already holds: a polars DataFrame or LazyFrame, a pyarrow Table or
RecordBatchReader, or any iterable of dicts. Each is cut into chunks of `CHUNK_ROWS` rows, numbered
from 0 in the order given, with no line numbers; values keep their types, as NDJSON and Parquet do.

An iterable is read once, a chunk at a time, in the flow's thread (memory stays flat for a
generator of any length); items that are not dicts are rejected (stage `read`), the rows after
them go on. DataFrames, LazyFrames and Arrow tables give their rows again in the same order, so a
checkpoint can skip them; iterables and record batch readers cannot be read twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from functools import partial
from itertools import islice
from typing import Any, ClassVar

import polars as pl

from backfill.contract import INTERNAL_PREFIX, LINE, ROW, CsvOptions, Parsed, Reject, Task
from backfill.errors import UsageError

CHUNK_ROWS = 50_000
_ARTICLES = {"list": "a list", "str": "a string", "int": "a number", "float": "a number",
             "bool": "a boolean", "NoneType": "None", "tuple": "a tuple"}


class FrameReader:
    """An opened in-memory source: its columns, then its chunks in order."""

    first_line = 1
    first_row = 0
    warnings: list[str]

    def __init__(self, name: str, columns: list[str], chunks: Iterator[Task]):
        self.name = name
        self.columns = columns
        self.warnings = []
        self._chunks = chunks

    def tasks(self) -> Iterator[Task]:
        return self._chunks

    def close(self) -> None:
        pass


def _parsed(frame: pl.DataFrame) -> Parsed:
    """A chunk as the flow takes it: rows numbered from 0, no lines."""
    out = frame.with_columns(pl.int_range(0, frame.height, dtype=pl.Int64).alias(ROW),
                             pl.lit(None, dtype=pl.Int64).alias(LINE))
    return Parsed(out, [], frame.height, "frame")


def _check_names(name: str, columns: list[str]) -> list[str]:
    internal = [c for c in columns if c.startswith(INTERNAL_PREFIX)]
    if internal:
        raise UsageError(f"{name}: column '{internal[0]}' starts with '__', which backfill keeps "
                         "for its own columns: rename it before importing")
    return columns


class _InMemory:
    """What the in-memory sources share: progress in rows, a name, no size until known."""

    unit: ClassVar[str] = "rows"
    resumable: ClassVar[bool] = False
    keyed: ClassVar[bool] = False

    def __init__(self, name: str):
        self.name = name

    def size(self) -> int:
        return 0

    def fingerprint(self) -> dict[str, Any]:
        return {"path": self.name}


class FrameSource(_InMemory):
    """A polars DataFrame (or a pyarrow Table, converted without copying): sliced, resumable."""

    resumable: ClassVar[bool] = True

    def __init__(self, frame: pl.DataFrame, name: str = "<DataFrame>"):
        super().__init__(name)
        self.frame = frame

    def size(self) -> int:
        return self.frame.height

    def columns(self, csv: CsvOptions) -> list[str]:
        return _check_names(self.name, list(self.frame.columns))

    def open(self, csv: CsvOptions) -> FrameReader:
        return FrameReader(self.name, self.columns(csv), _rechunked([self.frame]))

    def fingerprint(self) -> dict[str, Any]:
        """Its row count and a hash of its schema and of every row with its position (the
        wrapping sums of polars' row hashes under two seeds: one pass, no copy). polars' hash may
        change with its version: a resume across a polars upgrade is refused as changed data."""
        h = hashlib.blake2b(repr(self.frame.schema).encode(), digest_size=16)
        if self.frame.height and self.frame.width:
            numbered = self.frame.with_row_index("__position")
            for seed in (1, 2):
                h.update(str(numbered.hash_rows(seed=seed).sum()).encode())
        return {"path": self.name, "rows": self.frame.height, "sample": h.hexdigest()}


class LazySource(_InMemory):
    """A polars LazyFrame, streamed with `collect_batches` (order kept): resumable as long as
    the data it reads does not change (the fingerprint covers its plan, not that data)."""

    resumable: ClassVar[bool] = True

    def __init__(self, lazy: pl.LazyFrame, name: str = "<LazyFrame>"):
        super().__init__(name)
        self.lazy = lazy

    def columns(self, csv: CsvOptions) -> list[str]:
        return _check_names(self.name, list(self.lazy.collect_schema().names()))

    def open(self, csv: CsvOptions) -> FrameReader:
        columns = self.columns(csv)
        return FrameReader(self.name, columns, _rechunked(
            self.lazy.collect_batches(chunk_size=CHUNK_ROWS, maintain_order=True)))

    def fingerprint(self) -> dict[str, Any]:
        plan = self.lazy.explain(optimized=False)
        return {"path": self.name,
                "sample": hashlib.blake2b(plan.encode(), digest_size=16).hexdigest()}


class StreamSource(_InMemory):
    """Frames produced once (a pyarrow RecordBatchReader): not resumable."""

    def __init__(self, frames: Iterator[pl.DataFrame], columns: list[str], name: str):
        super().__init__(name)
        self._frames: Iterator[pl.DataFrame] | None = frames
        self._columns = columns

    def columns(self, csv: CsvOptions) -> list[str]:
        return _check_names(self.name, self._columns)

    def open(self, csv: CsvOptions) -> FrameReader:
        if self._frames is None:
            raise UsageError(f"{self.name} was read already: a stream can be read once")
        frames, self._frames = self._frames, None
        return FrameReader(self.name, self.columns(csv), _rechunked(frames))


def _rechunked(frames: Iterable[pl.DataFrame]) -> Iterator[Task]:
    """Frames of any size as chunks of at most CHUNK_ROWS rows."""
    done = 0
    for frame in frames:
        for start in range(0, frame.height, CHUNK_ROWS):
            part = frame.slice(start, CHUNK_ROWS)
            done += part.height
            yield partial(_parsed, part), done


class RecordsSource(_InMemory):
    """An iterable of dicts (a list, a generator, a cursor): read once, a chunk at a time."""

    def __init__(self, records: Iterable[Any], name: str = "<records>"):
        super().__init__(name)
        self._items: Iterator[Any] | None = iter(records)
        self._first: list[Any] | None = None
        self._size = len(records) if isinstance(records, list | tuple) else 0

    def size(self) -> int:
        return self._size

    def _peek(self) -> list[Any]:
        if self._first is None:
            if self._items is None:
                raise UsageError(f"{self.name} was read already: an iterable can be read once")
            self._first = list(islice(self._items, CHUNK_ROWS))
        return self._first

    def columns(self, csv: CsvOptions) -> list[str]:
        """The keys of the first chunk's dicts, in the order first seen."""
        seen: dict[str, None] = {}
        for item in self._peek():
            if isinstance(item, dict):
                seen.update(dict.fromkeys(map(str, item)))
        return _check_names(self.name, list(seen))

    def open(self, csv: CsvOptions) -> FrameReader:
        columns = self.columns(csv)
        first, items = self._peek(), self._items
        self._first, self._items = [], None
        assert items is not None

        def chunks() -> Iterator[Task]:
            batch, done = first, 0
            while batch:
                done += len(batch)
                yield partial(_records, batch, self.name), done
                batch = list(islice(items, CHUNK_ROWS))

        return FrameReader(self.name, columns, chunks())


def _records(items: list[Any], name: str) -> Parsed:
    """A chunk of items: the dicts become rows (types as polars infers them over the whole
    chunk; a key with mixed types becomes text), anything else a reject."""
    rows, good, rejects = [], [], []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            rows.append(i)
            good.append(item)
        else:
            kind = _ARTICLES.get(type(item).__name__, type(item).__name__)
            rejects.append(Reject(name, i, None, None, f"item is {kind}, not a dict", "read",
                                  item if isinstance(item, str | int | float | bool) else
                                  repr(item)[:200], "not a dict"))
    frame = pl.from_dicts(good, infer_schema_length=None, strict=False) if good else \
        pl.DataFrame()
    frame = frame.with_columns(pl.Series(ROW, rows, dtype=pl.Int64),
                               pl.lit(None, dtype=pl.Int64).alias(LINE))
    return Parsed(frame, rejects, len(items), "records")


def from_arrow(obj: Any, name: str) -> FrameSource | StreamSource:
    """A pyarrow Table (resumable) or RecordBatchReader (read once), without importing
    pyarrow here: polars converts either."""
    if hasattr(obj, "read_next_batch"):  # a RecordBatchReader
        columns = list(obj.schema.names)
        return StreamSource((pl.DataFrame(pl.from_arrow(b)) for b in obj), columns,
                            "<Arrow stream>")
    frame = pl.from_arrow(obj)
    if isinstance(frame, pl.Series):
        frame = frame.to_frame()
    return FrameSource(frame, name)

