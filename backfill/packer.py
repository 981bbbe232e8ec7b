"""Greedy packing of operations into `/api/v2/batch` bodies of at most 500,000 bytes. Pure.

A row's operations are a group that never straddles two bodies. `plan` computes the cut points on
the group sizes (Python, one bisect per body); polars joins the ready-made JSON texts of each body.
The last, unfilled body of a chunk waits for the next chunk, so bodies stay full across chunks.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from backfill.limits import BATCH_OVERHEAD, MAX_BATCH_BYTES

PREFIX = b'{"batch":['
SUFFIX = b"]}"
V2_PATH = "/api/v2/batch"
MAX_SEGMENT_IDS = 1000


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
        """Per input, in order: (input index, first row, last row)."""
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
                     self.rows.slice(start, n), self.path, self.prefix, self.suffix)


def body_size(group_sizes: Sequence[int]) -> int:
    """Bytes of a body holding these groups (each group: its ops joined by commas)."""
    return BATCH_OVERHEAD + sum(group_sizes) + max(len(group_sizes) - 1, 0)


def plan(group_sizes: Sequence[int] | pl.Series, limit: int = MAX_BATCH_BYTES) -> list[int]:
    """Greedy cut points: the exclusive end index of each body, in order.

    Every body but the last is as full as the next group allows; a group larger than a body on its
    own gets a body to itself (the checker rejects such rows before they get here).
    """
    sizes = group_sizes if isinstance(group_sizes, pl.Series) else pl.Series(
        list(group_sizes), dtype=pl.Int64)
    n = len(sizes)
    if n == 0:
        return []
    # c[j] = bytes of groups [0, j) plus one comma each; body [s, e) = overhead + c[e]-c[s]-1
    c = [0, *(sizes.cast(pl.Int64) + 1).cum_sum().to_list()]
    budget = limit - BATCH_OVERHEAD + 1
    ends = []
    start = 0
    while start < n:
        end = bisect_right(c, c[start] + budget, lo=start + 1) - 1
        end = max(end, start + 1)
        ends.append(end)
        start = end
    return ends


class Packer:
    """Feeds chunks of operations in, takes full bodies out; `flush` empties the last one."""

    def __init__(self, limit: int = MAX_BATCH_BYTES):
        self.limit = limit
        self._pending: pl.DataFrame | None = None

    @property
    def pending_operations(self) -> int:
        return 0 if self._pending is None else self._pending.height

    def add(self, ops: pl.DataFrame, input_index: int) -> list[Batch]:
        """ops: __row, __op, json, nbytes in row order (EncodedChunk.ops); v1 ops add path."""
        return self.cut(ops, input_index).assemble()

    def flush(self) -> list[Batch]:
        return self.cut_rest().assemble()

    def cut(self, ops: pl.DataFrame, input_index: int) -> Cut:
        """Decide the bodies these operations complete (cheap, in order); `Cut.assemble` then
        builds their bytes, in any thread."""
        if "path" in ops.columns:
            return Cut(v1=pack_v1(ops, input_index))
        frame = ops.select(pl.lit(input_index, dtype=pl.Int32).alias("__in"), "__row", "json",
                           "nbytes")
        if self._pending is not None:
            frame = pl.concat([self._pending, frame])
        self._pending = None
        return self._cut(frame, final=False)

    def cut_rest(self) -> Cut:
        if self._pending is None:
            return Cut()
        frame, self._pending = self._pending, None
        return self._cut(frame, final=True)

    def _cut(self, frame: pl.DataFrame, final: bool) -> Cut:
        if frame.height == 0:
            return Cut()
        key = pl.col("__row") if frame.get_column("__in").n_unique() == 1 else pl.struct(
            "__in", "__row")
        group = frame.select(key.rle_id()).to_series()
        if group[-1] + 1 == frame.height:  # one operation per row: groups are operations
            sizes, starts = frame.get_column("nbytes"), None
        else:
            groups = frame.with_columns(group.alias("__g")).group_by("__g", maintain_order=True)\
                .agg((pl.col("nbytes").sum() + pl.len() - 1).alias("size"), pl.len().alias("n"))
            sizes = groups.get_column("size")
            starts = [0, *groups.get_column("n").cum_sum().to_list()]  # group -> first op

        def first_op(g: int) -> int:
            return g if starts is None else starts[g]

        ends = plan(sizes, self.limit)
        full = len(ends) if final else len(ends) - 1
        if full < len(ends):
            self._pending = frame.slice(first_op(ends[full - 1] if full else 0))
        if full == 0:
            return Cut()
        return Cut(frame.head(first_op(ends[full - 1])), [0, *(first_op(e) for e in ends[:full])])


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


@dataclass
class Cut:
    """Operations whose bodies are decided: `bounds` are the op offsets where bodies start."""

    ops: pl.DataFrame | None = None
    bounds: list[int] | None = None
    v1: list[Batch] | None = None

    def assemble(self, build: bool = True) -> list[Batch]:
        """The bodies; `build=False` leaves their bytes to be joined when first read."""
        if self.v1 is not None:
            return self.v1
        if self.ops is None or not self.bounds:
            return []
        bounds = self.bounds
        done = self.ops
        sizes, inputs, rows = (done.get_column(c) for c in ("nbytes", "__in", "__row"))
        parts = list(zip(bounds[:-1], bounds[1:], strict=True))
        if build:  # each body made whole by polars: one allocation a body, no chunk-wide text
            body = pl.Series(bounds[1:-1], dtype=pl.Int64).search_sorted(
                pl.int_range(0, done.height, eager=True), side="right")  # each op's body
            wholes = done.select(pl.lit(body).alias("b"), "json").group_by("b", maintain_order=True)\
                .agg(pl.concat_str(pl.lit(PREFIX.decode()), pl.col("json").str.join(","),
                                   pl.lit(SUFFIX.decode())).cast(pl.Binary).alias("w"))\
                .get_column("w").to_list()
            return [Batch(memoryview(w)[len(PREFIX):len(w) - len(SUFFIX)], sizes.slice(a, b - a),
                          inputs.slice(a, b - a), rows.slice(a, b - a), whole=w)
                    for w, (a, b) in zip(wholes, parts, strict=True)]
        # every operation joined by commas once, when first read (a dump); each body is a slice
        joined = Joined(done.get_column("json"))
        starts = [0, *(sizes + 1).cum_sum().gather([b - 1 for b in bounds[1:]]).to_list()]
        return [Batch(Span(joined, starts[i], starts[i + 1] - 1),
                      sizes.slice(a, b - a), inputs.slice(a, b - a), rows.slice(a, b - a))
                for i, (a, b) in enumerate(parts)]


def pack_v1(ops: pl.DataFrame, input_index: int) -> list[Batch]:
    """v1 requests: segment ids grouped by consecutive path, at most 1000 a request; one
    request per form submission. A request's sizes and rows are slices of the chunk's columns
    (a Series built per request from Python values took 70 µs: most of a form import's time)."""
    out = []
    json, sizes, rows = (ops.get_column(c) for c in ("json", "nbytes", "__row"))
    inputs = pl.repeat(input_index, ops.height, dtype=pl.Int32, eager=True)
    runs = ops.select(pl.col("path").rle().struct.unnest())  # len, value: consecutive paths
    start = 0
    for length, path in runs.iter_rows():
        segment = path.startswith("/api/v1/segments/")
        step = MAX_SEGMENT_IDS if segment else 1
        prefix, suffix = (b'{"ids":[', b"]}") if segment else (b'{"data":', b"}")
        for i in range(start, start + length, step):
            n = min(step, start + length - i)
            text = ",".join(json.slice(i, n).to_list()) if segment else json[i]
            out.append(Batch(text.encode(), sizes.slice(i, n), inputs.slice(i, n),
                             rows.slice(i, n), path, prefix, suffix))
        start += length
    return out
