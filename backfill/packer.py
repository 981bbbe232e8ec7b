"""Greedy packing of operations into `/api/v2/batch` bodies of at most 500,000 bytes. Pure.

A row's operations are a group that never straddles two bodies. `plan` computes the cut points on
the group sizes (Python, one bisect per body); polars joins the ready-made JSON texts of each body.
The last, unfilled body of a chunk waits for the next chunk, so bodies stay full across chunks.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

import polars as pl

from backfill.limits import BATCH_OVERHEAD, MAX_BATCH_BYTES

PREFIX = b'{"batch":['
SUFFIX = b"]}"
V2_PATH = "/api/v2/batch"
MAX_SEGMENT_IDS = 1000


@dataclass(frozen=True)
class Batch:
    """One request body and, per operation in it, its size, input and row."""

    body: bytes
    sizes: tuple[int, ...]
    inputs: tuple[int, ...]
    rows: tuple[int, ...]
    path: str = "/api/v2/batch"
    prefix: bytes = PREFIX
    suffix: bytes = SUFFIX

    @property
    def splittable(self) -> bool:
        """v2 bodies can be halved to isolate bad operations; v1 requests cannot."""
        return self.path == V2_PATH and self.operations > 1

    @property
    def size(self) -> int:
        return len(self.body)

    @property
    def operations(self) -> int:
        return len(self.sizes)

    @property
    def spans(self) -> tuple[tuple[int, int, int], ...]:
        """Per input, in order: (input index, first row, last row)."""
        spans: list[tuple[int, int, int]] = []
        for i, row in zip(self.inputs, self.rows, strict=True):
            if spans and spans[-1][0] == i:
                spans[-1] = (i, spans[-1][1], row)
            else:
                spans.append((i, row, row))
        return tuple(spans)

    def operation(self, index: int) -> bytes:
        start = len(self.prefix) + sum(self.sizes[:index]) + index
        return self.body[start:start + self.sizes[index]]

    def split(self) -> tuple[Batch, Batch]:
        """Two bodies with the first and the second half of the operations (at least 2)."""
        half = self.operations // 2
        return self.part(0, half), self.part(half, self.operations)

    def part(self, start: int, end: int) -> Batch:
        first = len(self.prefix) + sum(self.sizes[:start]) + start
        last = first + sum(self.sizes[start:end]) + (end - start - 1)
        return Batch(self.prefix + self.body[first:last] + self.suffix, self.sizes[start:end],
                     self.inputs[start:end], self.rows[start:end], self.path, self.prefix,
                     self.suffix)


def body_size(group_sizes: Sequence[int]) -> int:
    """Bytes of a body holding these groups (each group: its ops joined by commas)."""
    return BATCH_OVERHEAD + sum(group_sizes) + max(len(group_sizes) - 1, 0)


def plan(group_sizes: Sequence[int], limit: int = MAX_BATCH_BYTES) -> list[int]:
    """Greedy cut points: the exclusive end index of each body, in order.

    Every body but the last is as full as the next group allows; a group larger than a body on its
    own gets a body to itself (the checker rejects such rows before they get here).
    """
    n = len(group_sizes)
    if n == 0:
        return []
    # c[j] = bytes of groups [0, j) plus one comma each; body [s, e) = overhead + c[e]-c[s]-1
    c = [0, *accumulate(size + 1 for size in group_sizes)]
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
        if "path" in ops.columns:
            return pack_v1(ops, input_index)
        frame = ops.select(pl.lit(input_index, dtype=pl.Int32).alias("__in"), "__row", "json",
                           "nbytes")
        if self._pending is not None:
            frame = pl.concat([self._pending, frame])
        self._pending = None
        return self._pack(frame, final=False)

    def flush(self) -> list[Batch]:
        if self._pending is None:
            return []
        frame, self._pending = self._pending, None
        return self._pack(frame, final=True)

    def _pack(self, frame: pl.DataFrame, final: bool) -> list[Batch]:
        if frame.height == 0:
            return []
        frame = frame.with_columns(pl.struct("__in", "__row").rle_id().alias("__g"))
        groups = frame.group_by("__g", maintain_order=True).agg(
            (pl.col("nbytes").sum() + pl.len() - 1).alias("size"))
        ends = plan(groups.get_column("size").to_list(), self.limit)
        full = len(ends) if final else len(ends) - 1
        if full < len(ends):
            keep_from = ends[full - 1] if full else 0
            self._pending = frame.filter(pl.col("__g") >= keep_from).drop("__g")
        if full == 0:
            return []
        batch_of_group = []
        start = 0
        for b, end in enumerate(ends[:full]):
            batch_of_group.extend([b] * (end - start))
            start = end
        lookup = pl.Series("__b", batch_of_group, dtype=pl.Int32)
        done = frame.filter(pl.col("__g") < len(batch_of_group))
        done = done.with_columns(lookup.gather(done.get_column("__g")).alias("__b"))
        bodies = done.group_by("__b", maintain_order=True).agg(
            pl.col("json").str.join(",").alias("text"),
            pl.col("nbytes"), pl.col("__in"), pl.col("__row"),
        )
        return [Batch(PREFIX + text.encode() + SUFFIX, tuple(sizes), tuple(inputs), tuple(rows))
                for text, sizes, inputs, rows in bodies.select(
                    "text", "nbytes", "__in", "__row").iter_rows()]


def pack_v1(ops: pl.DataFrame, input_index: int) -> list[Batch]:
    """v1 requests: segment ids grouped by consecutive path, at most 1000 a request; one
    request per form submission."""
    out = []
    runs = ops.with_columns(pl.col("path").rle_id().alias("__run")).group_by(
        "__run", maintain_order=True).agg(pl.col("path").first(), "json", "nbytes", "__row")
    for path, texts, sizes, rows in runs.select("path", "json", "nbytes", "__row").iter_rows():
        segment = path.startswith("/api/v1/segments/")
        step = MAX_SEGMENT_IDS if segment else 1
        prefix, suffix = (b'{"ids":[', b"]}") if segment else (b'{"data":', b"}")
        for i in range(0, len(texts), step):
            part = texts[i:i + step]
            body = prefix + ",".join(part).encode() + suffix
            out.append(Batch(body, tuple(sizes[i:i + step]), (input_index,) * len(part),
                             tuple(rows[i:i + step]), path, prefix, suffix))
    return out
