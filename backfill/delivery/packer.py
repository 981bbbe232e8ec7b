"""Greedy packing of operations into `/api/v2/batch` bodies of at most 500,000 bytes. Pure.

A row's operations are a group that never straddles two bodies. The cut points are computed on
the groups' running total of bytes, which polars gathers at each group's last operation (`_ends`,
one bisect per body; `cut_points` is the same on group sizes); polars joins the ready-made JSON texts
of each body.
The last, unfilled body of a chunk waits for the next chunk, so bodies stay full across chunks.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from backfill.contract import (
    BATCH_OVERHEAD,
    INPUT,
    JSON,
    MAX_BATCH_BYTES,
    NBYTES,
    OP,
    PATH,
    PREFIX,
    ROW,
    SUFFIX,
    Batch,
    Joined,
    Span,
    is_v1,
)
from backfill.nightly.keys import CH, KEY, KH, REL

MAX_SEGMENT_IDS = 1000
KEYED = (OP, KH, CH, KEY, REL)  # with --state: each operation's key, carried to its ack


def body_size(group_sizes: Sequence[int]) -> int:
    """Bytes of a body holding these groups (each group: its ops joined by commas)."""
    return BATCH_OVERHEAD + sum(group_sizes) + max(len(group_sizes) - 1, 0)


def cut_points(group_sizes: Sequence[int] | pl.Series, limit: int = MAX_BATCH_BYTES) -> list[int]:
    """Greedy cut points: the exclusive end index of each body, in order.

    Every body but the last is as full as the next group allows; a group larger than a body on its
    own gets a body to itself (the checker rejects such rows before they get here).
    """
    sizes = group_sizes if isinstance(group_sizes, pl.Series) else pl.Series(
        list(group_sizes), dtype=pl.Int64)
    return _ends((sizes.cast(pl.Int64) + 1).cum_sum(), limit)


def _ends(cumulative: pl.Series, limit: int) -> list[int]:
    """`cut_points` on the groups' running total: bytes of groups [0, j] plus one comma each."""
    n = len(cumulative)
    if n == 0:
        return []
    # c[j] = bytes of groups [0, j) plus one comma each; body [s, e) = overhead + c[e]-c[s]-1
    c = [0, *cumulative.to_list()]
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
        if is_v1(ops):
            return Cut(v1=pack_v1(ops, input_index))
        frame = ops.select(pl.lit(input_index, dtype=pl.Int32).alias(INPUT), ROW, JSON, NBYTES,
                           *(KEYED if KH in ops.columns else ()))
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
        key = [ROW] if frame.get_column(INPUT).n_unique() == 1 else [INPUT, ROW]
        # the first operation of each row: a row's operations (a group) share one body. The
        # running total at each group's last operation is the groups' (no group_by, which is
        # costly in the thread that orders the chunks)
        firsts = frame.select(pl.any_horizontal(pl.col(c) != pl.col(c).shift(1) for c in key)
                              .fill_null(True).arg_true()).to_series()
        running = (frame.get_column(NBYTES).cast(pl.Int64) + 1).cum_sum()
        if len(firsts) < frame.height:  # rows of more than one operation
            lasts = pl.concat([firsts.slice(1).cast(pl.Int64) - 1,
                               pl.Series([frame.height - 1], dtype=pl.Int64)])
            running = running.gather(lasts)

        def first_op(g: int) -> int:  # group -> its first operation
            return frame.height if g == len(firsts) else firsts[g]

        ends = _ends(running, self.limit)
        full = len(ends) if final else len(ends) - 1
        if full < len(ends):
            self._pending = frame.slice(first_op(ends[full - 1] if full else 0))
        if full == 0:
            return Cut()
        return Cut(frame.head(first_op(ends[full - 1])), [0, *(first_op(e) for e in ends[:full])])


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
        sizes, inputs, rows = (done.get_column(c) for c in (NBYTES, INPUT, ROW))
        keys = done.select(INPUT, ROW, *KEYED) if KH in done.columns else None
        parts = list(zip(bounds[:-1], bounds[1:], strict=True))
        if build:  # each body made whole by polars: one allocation a body, no chunk-wide text
            body = pl.Series(bounds[1:-1], dtype=pl.Int64).search_sorted(
                pl.int_range(0, done.height, eager=True), side="right")  # each op's body
            wholes = done.select(pl.lit(body).alias("b"), JSON).group_by("b", maintain_order=True)\
                .agg(pl.concat_str(pl.lit(PREFIX.decode()), pl.col(JSON).str.join(","),
                                   pl.lit(SUFFIX.decode())).cast(pl.Binary).alias("w"))\
                .get_column("w").to_list()
            built = [Batch(memoryview(w)[len(PREFIX):len(w) - len(SUFFIX)], sizes.slice(a, b - a),
                           inputs.slice(a, b - a), rows.slice(a, b - a), whole=w,
                           keys=_slice(keys, a, b))
                     for w, (a, b) in zip(wholes, parts, strict=True)]
            for batch in built:
                batch.spans  # noqa: B018 - computed here, in a pool thread, not in the event loop
            return built
        # every operation joined by commas once, when first read (a dump); each body is a slice
        joined = Joined(done.get_column(JSON))
        starts = [0, *(sizes + 1).cum_sum().gather([b - 1 for b in bounds[1:]]).to_list()]
        return [Batch(Span(joined, starts[i], starts[i + 1] - 1),
                      sizes.slice(a, b - a), inputs.slice(a, b - a), rows.slice(a, b - a),
                      keys=_slice(keys, a, b))
                for i, (a, b) in enumerate(parts)]


def _slice(frame: pl.DataFrame | None, start: int, end: int) -> pl.DataFrame | None:
    return None if frame is None else frame.slice(start, end - start)


def pack_v1(ops: pl.DataFrame, input_index: int) -> list[Batch]:
    """v1 requests: segment ids grouped by consecutive path, at most 1000 a request; one
    request per form submission. A request's sizes and rows are slices of the chunk's columns:
    building a Series per request from Python values would be most of a form import's time."""
    out = []
    json, sizes, rows = (ops.get_column(c) for c in (JSON, NBYTES, ROW))
    inputs = pl.repeat(input_index, ops.height, dtype=pl.Int32, eager=True)
    keys = ops.select(inputs.alias(INPUT), ROW, *KEYED) if KH in ops.columns else None
    runs = ops.select(pl.col(PATH).rle().struct.unnest())  # len, value: consecutive paths
    start = 0
    for length, path in runs.iter_rows():
        segment = path.startswith("/api/v1/segments/")
        step = MAX_SEGMENT_IDS if segment else 1
        prefix, suffix = (b'{"ids":[', b"]}") if segment else (b'{"data":', b"}")
        for i in range(start, start + length, step):
            n = min(step, start + length - i)
            text = ",".join(json.slice(i, n).to_list()) if segment else json[i]
            out.append(Batch(text.encode(), sizes.slice(i, n), inputs.slice(i, n),
                             rows.slice(i, n), path, prefix, suffix, keys=_slice(keys, i, i + n)))
        start += length
    return out
