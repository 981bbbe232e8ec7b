from __future__ import annotations

import orjson
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from backfill.delivery.packer import Packer, body_size, cut_points
from backfill.mapping.limits import MAX_BATCH_BYTES


def test_plan_is_greedy_and_exact_at_the_limit():
    # bodies: overhead 12 + sizes + commas; 12 + 10 + 1 + 10 = 33
    assert cut_points([10, 10, 10], limit=33) == [2, 3]
    assert cut_points([10, 10, 10], limit=32) == [1, 2, 3]
    assert body_size([10, 10]) == 33
    assert cut_points([]) == []


def ops_frame(rows: list[list[str]]) -> pl.DataFrame:
    data = [(r, i, text) for r, texts in enumerate(rows) for i, text in enumerate(texts)]
    df = pl.DataFrame(data, schema={"__row": pl.Int64, "__op": pl.Int32, "json": pl.String},
                      orient="row")
    return df.with_columns(pl.col("json").str.len_bytes().cast(pl.Int64).alias("nbytes"))


op_text = st.builds(
    lambda n, s: orjson.dumps({"type": "person", "identifiers": {"id": str(n)},
                               "action": "identify", "attributes": {"s": s}}).decode(),
    st.integers(0, 10**6), st.text(max_size=3000))


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 4).flatmap(  # up to 1 operation a row (its own path), or up to 4
    lambda most: st.lists(st.lists(op_text, min_size=1, max_size=most), min_size=0, max_size=80)),
       limit=st.integers(13_000, 40_000), split=st.integers(0, 80))
def test_bodies_are_valid_within_the_limit_and_lose_or_reorder_nothing(rows, limit, split):
    packer = Packer(limit)
    frame = ops_frame(rows)
    first, second = frame.filter(pl.col("__row") < split), frame.filter(pl.col("__row") >= split)
    batches = packer.add(first, 0) + packer.add(second, 0) + packer.flush()
    sent: list[tuple[int, str]] = []
    for batch in batches:
        assert len(batch.body) <= limit
        body = orjson.loads(batch.body)
        assert list(body) == ["batch"] and len(body["batch"]) == batch.operations
        texts = batch.body[len(b'{"batch":['):-2].decode()
        assert texts == ",".join(orjson.dumps(o).decode() for o in body["batch"])
        (_, first_row, last_row), = batch.spans
        sent.append((first_row, last_row))
    # nothing lost or reordered: the bodies' ops, in order, are exactly the input's ops
    everything = [orjson.loads(t) for r in rows for t in r]
    assert [o for b in batches for o in orjson.loads(b.body)["batch"]] == everything
    # rows never straddle: spans are disjoint and increasing
    for (a0, a1), (b0, _) in zip(sent, sent[1:], strict=False):
        assert a0 <= a1 < b0
    # bodies left unbuilt (validate) read the same bytes when they are read
    lazy = Packer(limit)
    unbuilt = [b for part in (lazy.cut(first, 0), lazy.cut(second, 0), lazy.cut_rest())
               for b in part.assemble(build=False)]
    assert [b.body for b in unbuilt] == [b.body for b in batches]
    assert [b.size for b in unbuilt] == [b.size for b in batches]


def test_bodies_fill_up_across_chunks():
    text = orjson.dumps({"type": "person", "identifiers": {"id": "1"}, "action": "identify",
                         "attributes": {"bio": "x" * 200}}).decode()
    packer = Packer()
    batches = []
    for start in range(0, 10_000, 1000):
        batches += packer.add(ops_frame([[text]] * 1000).with_columns(
            pl.col("__row") + start), 0)
    batches += packer.flush()
    full = batches[:-1]
    assert sum(b.operations for b in batches) == 10_000
    assert all(b.size > MAX_BATCH_BYTES - len(text) - 1 for b in full)
    assert all(b.size <= MAX_BATCH_BYTES for b in batches)


def test_a_body_spanning_two_inputs_names_both():
    packer = Packer()
    a = ops_frame([['{"a":1}']] * 3)
    b = ops_frame([['{"b":1}']] * 2)
    batches = packer.add(a, 0) + packer.add(b, 1) + packer.flush()
    assert [x.spans for x in batches] == [((0, 0, 2), (1, 0, 1))]


def test_split_and_operation_slice_the_exact_bytes():
    packer = Packer()
    texts = ['{"a":1}', '{"b":"xx"}', '{"c":[1,2]}']
    [batch] = packer.add(ops_frame([[t] for t in texts]), 0) + packer.flush()
    assert [batch.operation(i).decode() for i in range(3)] == texts
    left, right = batch.split()
    assert left.body == b'{"batch":[{"a":1}]}'
    assert right.body == b'{"batch":[{"b":"xx"},{"c":[1,2]}]}'
    assert tuple(right.rows) == (1, 2) and right.spans == ((0, 1, 2),)
