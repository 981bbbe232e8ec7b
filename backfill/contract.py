"""The stage contract: every type and frame column that passes from one stage to the next.

    source ──► parse ──► encode ──► pack ──► deliver
       Parsed (frame)   EncodedChunk   Batch      acks, Reject

Each stage imports this module, never its neighbour's internals:

- **A parsed chunk** (`Parsed.frame`): the input's columns as read, plus `ROW` (the row's number
  in its input, from 0, in data order; Int64) and `LINE` (its first physical line, 1-based; null
  where the source has no lines). Malformed records are `Reject`s, not rows.
- **An encoded chunk** (`EncodedChunk.ops`): one row per operation, in row then mapping order,
  with the columns of `OPS_SCHEMA`: `ROW`, `OP` (the operation's index in the mapping), `JSON` (its
  exact text as sent) and `NBYTES` (that text's length in bytes). v1 operations (segments, forms)
  add `PATH`, the request path of each; `is_v1` tells them apart.
- **A batch** (`Batch`): one request body and, per operation in it, its size, input index and row,
  so that an acknowledgement marks rows done and an API reject names its row.
- **A reject** (`Reject`): a row or operation refused at a stage (`STAGES`), with the reason.

The Track API's body limit and envelope are here too, since the encoder checks rows against them
and the packer fills bodies up to them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import orjson
import polars as pl

# -- frame columns --------------------------------------------------------------------------------
ROW = "__row"  # a row's number in its input, from 0
LINE = "__line"  # a row's first physical line in its input, 1-based (null when there is none)
OP = "__op"  # an operation's index in the mapping
JSON = "json"  # an operation's JSON text, exactly as sent
NBYTES = "nbytes"  # the byte length of JSON
PATH = "path"  # v1 operations only: the request path
INPUT = "__in"  # the index of the input a row came from (in the packer)
OPS_SCHEMA = {ROW: pl.Int64, OP: pl.Int32, JSON: pl.String, NBYTES: pl.Int64}
INTERNAL_PREFIX = "__"  # columns a source must not use: the pipeline's own

# -- the Track API's request bodies -----------------------------------------------------------------
MAX_BATCH_BYTES = 500_000
PREFIX = b'{"batch":['
SUFFIX = b"]}"
BATCH_OVERHEAD = len(PREFIX) + len(SUFFIX)
V2_PATH = "/api/v2/batch"

STAGES = ("read", "mapping", "limits", "api")


def is_v1(ops: pl.DataFrame) -> bool:
    """Operations that go to v1 endpoints, one path each, instead of /api/v2/batch bodies."""
    return PATH in ops.columns


@dataclass(frozen=True)
class CsvOptions:
    """How a CSV source is read (the mapping's `source.csv`)."""

    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf8"
    header: bool = True
    detect: bool = True  # the delimiter was not declared: a header without it may tell another
    # a record (a CSV row, an NDJSON line) or header longer than this refuses the input: memory
    # stays bounded by this, whatever the input (a decompression bomb, /dev/zero); any format
    max_record_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class Reject:
    """One rejected row (or operation): where it was, why, and the row as read."""

    input: str
    row: int
    line: int | None
    operation: int | None
    reason: str
    stage: str
    record: Any
    kind: str = ""  # a short, value-free category of the reason, for the summary

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "input": self.input,
                "row": self.row,
                "line": self.line,
                "operation": self.operation,
                "reason": self.reason,
                "stage": self.stage,
                "record": self.record,
            },
            option=orjson.OPT_NON_STR_KEYS,
            default=str,
        )


@dataclass
class Parsed:
    """A parsed block of one input: rows numbered from 0 and lines from 1 within the block until
    the source makes them absolute (`offset`)."""

    frame: pl.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    records: int = 0  # rows numbered in this block (good and rejected)
    path: str = ""  # which parsing path was taken, for tests and profiling
    lines: int = 0  # physical lines in the block
    # when `frame` holds only the columns the mapping reads: the frame of all of them (same
    # row numbers), for the records of rejected rows
    reread: Callable[[], pl.DataFrame] | None = None


def offset(parsed: Parsed, first_row: int, first_line: int = 1) -> Parsed:
    """Make a block's row and line numbers absolute: its first row is `first_row`, its first
    line `first_line` (a block numbers them from 0 and 1)."""
    if first_row == 0 and first_line == 1:
        return parsed
    lines = first_line - 1
    shift = (pl.col(ROW) + first_row, pl.col(LINE) + lines)
    rejects = [replace(r, row=r.row + first_row, line=None if r.line is None else r.line + lines)
               for r in parsed.rejects]
    reread = parsed.reread
    return replace(parsed, frame=parsed.frame.with_columns(*shift), rejects=rejects,
                   reread=reread and (lambda: reread().with_columns(*shift)))


# A block's parsing, to run in any thread, and how far the source is read when it is handed out
# (bytes for files, rows for in-memory sources: the progress bar's unit).
Task = tuple[Callable[[], Parsed], int]


class Reader(Protocol):
    """One opened source: its columns first (before the data), then its blocks in order."""

    columns: list[str]
    warnings: list[str]
    first_row: int  # the number of its first row: 0, or where a keyed source resumes

    @property
    def first_line(self) -> int:
        """The physical line of the first data row (after a header); 1 without lines."""

    def tasks(self) -> Iterator[Task]:
        """In data order: thunks that parse one block each, numbering its rows from 0 and its
        lines from 1; the flow makes them absolute (`offset`)."""

    def close(self) -> None: ...


class Source(Protocol):
    """Where rows come from: a file, stdin, a frame, an Arrow table, an iterable of dicts."""

    @property
    def name(self) -> str:
        """How rejects, reports and messages name it."""

    @property
    def resumable(self) -> bool:
        """Whether its rows come again in the same order, so a checkpoint can skip them."""

    unit: str  # of `size` and of the tasks' progress: "B" (bytes) or "rows"
    # A keyed source (a database query with a resume_key) resumes after a key, not by row
    # position: it has `resume_point(watermark) -> point | None` for the checkpoint and
    # `resume_from(point) -> first row` for the run that continues.
    keyed: bool

    def size(self) -> int:
        """Its size in `unit` for the progress bar; 0 when unknown."""

    def columns(self, csv: CsvOptions) -> list[str] | None:
        """Its columns before any data is mapped (None: known only while it is read)."""

    def open(self, csv: CsvOptions) -> Reader: ...

    def fingerprint(self) -> dict[str, Any]:
        """What the checkpoint keeps to refuse a resume on other data: `path` and some of
        `size`, `mtime`, `rows`, `sample` (a hash)."""


@dataclass
class EncodedChunk:
    """A chunk's operations in row then mapping order (columns `OPS_SCHEMA`, plus `PATH` for v1),
    and the rows rejected on the way."""

    ops: pl.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    rows: int = 0
    op_counts: Counter = field(default_factory=Counter)
    rejected_ops: pl.DataFrame | None = None  # the operations of rejected rows, as far as built
    recent_events: int = 0  # events from the last 72 hours (`recent_events`), whatever became of them
    future_events: int = 0  # of them, those dated after now (a wrong zone or unit, often)
    untimed_events: int = 0  # of them, those with no time (the API stamps them now)


@dataclass(frozen=True, slots=True)
class Batch:
    """One request and, per operation in it, its size, input and row (polars Series).

    `content` is the operations joined by commas. A body built to be sent or dumped is `whole`,
    and `content` a view into it; otherwise `content` is a slice of the chunk's operations,
    joined only if the body is read (`validate` without a dump never reads it).
    """

    content: bytes | memoryview | Span
    sizes: pl.Series
    inputs: pl.Series
    rows: pl.Series
    path: str = V2_PATH
    prefix: bytes = PREFIX
    suffix: bytes = SUFFIX
    whole: bytes | None = field(default=None, repr=False)  # the body, when built ahead
    keys: pl.DataFrame | None = field(default=None, repr=False)  # per operation, with --state
    _spans: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, dtype in (("sizes", pl.Int64), ("inputs", pl.Int32), ("rows", pl.Int64)):
            value = getattr(self, name)
            if not isinstance(value, pl.Series):
                object.__setattr__(self, name, pl.Series(name, list(value), dtype=dtype))

    @property
    def splittable(self) -> bool:
        """v2 bodies can be halved to isolate bad operations; v1 requests cannot."""
        return self.path == V2_PATH and self.operations > 1

    @property
    def body(self) -> bytes:
        if self.whole is not None:
            return self.whole
        content = self.content.view() if isinstance(self.content, Span) else self.content
        return b"".join((self.prefix, content, self.suffix))

    @property
    def size(self) -> int:
        return len(self.prefix) + len(self.content) + len(self.suffix)

    @property
    def operations(self) -> int:
        return len(self.sizes)

    @property
    def spans(self) -> tuple[tuple[int, int, int], ...]:
        """Per input, in order: (input index, first row, last row). Computed once, by the
        packer's thread (`delivery.packer`), not by the event loop's at each acknowledgement."""
        if self._spans is None:
            object.__setattr__(self, "_spans", self._find_spans())
        return self._spans

    def _find_spans(self) -> tuple[tuple[int, int, int], ...]:
        if self.inputs.n_unique() == 1:
            return ((self.inputs[0], self.rows[0], self.rows[-1]),)
        frame = pl.DataFrame({"i": self.inputs, "r": self.rows})
        runs = frame.group_by(pl.col("i").rle_id().alias("g"), maintain_order=True).agg(
            pl.col("i").first(), pl.col("r").first().alias("a"), pl.col("r").last().alias("b"))
        return tuple(runs.select("i", "a", "b").iter_rows())

    def operation(self, index: int) -> bytes:
        start = int(self.sizes.head(index).sum()) + index
        return bytes(self.content[start:start + self.sizes[index]])

    def split(self) -> tuple[Batch, Batch]:
        """Two bodies with the first and the second half of the operations (at least 2)."""
        half = self.operations // 2
        return self.part(0, half), self.part(half, self.operations)

    def part(self, start: int, end: int) -> Batch:
        first = int(self.sizes.head(start).sum()) + start
        n = end - start
        last = first + int(self.sizes.slice(start, n).sum()) + (n - 1)
        return Batch(self.content[first:last],
                     self.sizes.slice(start, n), self.inputs.slice(start, n),
                     self.rows.slice(start, n), self.path, self.prefix, self.suffix,
                     keys=None if self.keys is None else self.keys.slice(start, n))



class Joined:
    """Operations joined by commas into one text, built once, on first use: `validate` decides
    every body and its size but needs the bytes only to dump them."""

    def __init__(self, json: pl.Series):
        self._json: pl.Series | None = json
        self._text: memoryview | None = None
        self._lock = threading.Lock()

    def view(self) -> memoryview:
        with self._lock:
            if self._text is None:
                assert self._json is not None
                self._text = memoryview(self._json.str.join(",").cast(pl.Binary).item())
                self._json = None
            return self._text


@dataclass(frozen=True)
class Span:
    """Bytes [start, end) of a Joined text."""

    joined: Joined
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start

    def view(self) -> memoryview:
        return self.joined.view()[self.start:self.end]

    def __getitem__(self, part: slice) -> memoryview:
        return self.view()[part]
