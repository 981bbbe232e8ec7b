"""NDJSON blocks read with a known schema: the same frame as inference, or inference."""

from __future__ import annotations

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backfill.contract import LINE, ROW
from backfill.sources import parse_ndjson
from backfill.sources.parse_ndjson import known_schema, parse_ndjson_block

COLUMNS = ["id", "amount", "flag", "n"]
KNOWN = pl.Schema({"id": pl.String, "amount": pl.Float64, "flag": pl.Boolean, "n": pl.Int64})


def ndjson(rows: list) -> bytes:
    """One JSON line a row; a bytes row is written as it is (a bad line)."""
    return b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in rows)


def inferred(block: bytes) -> pl.DataFrame:
    frame = parse_ndjson_block(block, "e.ndjson", 1, 0).frame
    return frame.select(c for c in [*COLUMNS, ROW, LINE] if c in frame.columns)


def test_known_schema_only_for_plain_columns_the_first_block_has():
    first = pl.Schema({"id": pl.String, "n": pl.Int64, "items": pl.List(pl.Int64),
                       "meta": pl.Struct({"a": pl.Int64}), "gone": pl.Null, "x": pl.Float64})
    assert known_schema(first, ["id", "n", "x"]) == pl.Schema(
        {"id": pl.String, "n": pl.Int64, "x": pl.Float64})
    for column in ("items", "meta", "gone", "missing"):
        assert known_schema(first, ["id", column]) is None


def test_a_block_like_the_first_is_read_for_the_known_columns_only():
    rows = [{"id": f"u{i}", "amount": i + 0.5, "flag": i % 2 == 0, "n": i, "other": [i]}
            for i in range(200)]
    block = ndjson(rows)
    parsed = parse_ndjson_block(block, "e.ndjson", 1, 0, KNOWN)
    assert parsed.path == "known"
    assert parsed.frame.columns == [*COLUMNS, ROW, LINE]
    assert parsed.frame.equals(inferred(block))
    everything = parsed.reread()
    assert everything.get_column("other").to_list() == [[i] for i in range(200)]
    assert everything.select(ROW, LINE).equals(parsed.frame.select(ROW, LINE))


@pytest.mark.parametrize("late", [
    {"id": 7, "amount": 1.5, "flag": True, "n": 1},  # a number after text: still text
    {"id": "u", "amount": 2, "flag": True, "n": 1},  # a whole number in a decimal column
])
def test_values_after_the_sample_that_inference_takes_alike(late):
    rows = [{"id": f"u{i}", "amount": i + 0.5, "flag": True, "n": i} for i in range(100)] + [late]
    parsed = parse_ndjson_block(ndjson(rows), "e.ndjson", 1, 0, KNOWN)
    assert parsed.path == "known"
    assert parsed.frame.equals(inferred(ndjson(rows)))


GOOD = {"id": "u", "amount": 1.5, "flag": True, "n": 1}


@pytest.mark.parametrize("rows", [
    [{**GOOD, "id": i} for i in range(100)],  # numbers only: Int64
    [{**GOOD, "amount": i} for i in range(100)],  # whole numbers: Int64
    [{**GOOD, "n": 2**63} for _ in range(100)],  # beyond Int64
    [{"id": "u", "amount": 1.5, "n": 1} for _ in range(100)],  # flag absent: no column
    [{**GOOD, "flag": None} for _ in range(100)],  # flag null: Null
    [GOOD] * 70 + [{**GOOD, "amount": "x"}],
    [GOOD] * 70 + [{**GOOD, "flag": 1}],
    [GOOD] * 70 + [{**GOOD, "n": 1.5}],
])
def test_blocks_the_known_schema_cannot_prove_are_inferred(rows):
    block = ndjson(rows)
    parsed = parse_ndjson_block(block, "e.ndjson", 1, 0, KNOWN)
    assert parsed.path != "known" and parsed.reread is None
    plain = parse_ndjson_block(block, "e.ndjson", 1, 0)
    assert parsed.frame.equals(plain.frame) and parsed.rejects == plain.rejects


@pytest.mark.parametrize("rows", [
    [GOOD] * 70 + [[1, 2]],  # a line that is not an object
    [b'{"id": "u", broken'] + [GOOD] * 70,  # a line that is not JSON
])
def test_a_block_with_bad_lines_reads_its_good_lines_for_the_known_columns(rows):
    block = ndjson(rows)
    parsed = parse_ndjson_block(block, "e.ndjson", 1, 0, KNOWN)
    plain = parse_ndjson_block(block, "e.ndjson", 1, 0)
    assert parsed.path == plain.path == "exact" and parsed.reread is not None
    assert len(parsed.rejects) == 1 and parsed.rejects == plain.rejects
    assert parsed.frame.equals(inferred(block))
    assert parsed.reread().equals(plain.frame)


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1),
                   st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=4),
                   st.just({"k": 1}), st.just([1, 2]))


CONFORMING = st.fixed_dictionaries({"id": st.text(max_size=3),
                                    "amount": st.floats(allow_nan=False, allow_infinity=False),
                                    "flag": st.booleans(), "n": st.integers(-2**63, 2**63 - 1)},
                                   optional={"other": VALUES})
ANY = st.one_of(st.dictionaries(st.sampled_from(COLUMNS + ["other"]), VALUES),
                st.sampled_from([b'{"id": "u", broken', b"[1, 2]", b'"text"']))  # bad lines


@settings(max_examples=500, deadline=None)
@given(st.lists(CONFORMING, min_size=3, max_size=3), st.lists(ANY, max_size=8),
       st.integers(0, 3))
def test_the_known_path_gives_what_inference_gives(head, tail, shown):
    """Whatever the lines after the sample hold (bad lines too), the known path's frame equals
    inference's on those columns, and its rejects are the same (samples of 3 lines here;
    `shown` of them conform to the known types, so that some samples prove the schema and some
    do not)."""
    rows = head[:shown] + tail + head[shown:]
    block = ndjson(rows)
    before, parse_ndjson.SAMPLE_LINES = parse_ndjson.SAMPLE_LINES, 3
    try:
        parsed = parse_ndjson_block(block, "e.ndjson", 1, 0, KNOWN)
    finally:
        parse_ndjson.SAMPLE_LINES = before
    plain = parse_ndjson_block(block, "e.ndjson", 1, 0)
    assert parsed.rejects == plain.rejects and parsed.records == plain.records
    if parsed.reread is None:  # every column read: inference's frame
        assert parsed.frame.equals(plain.frame)
    else:  # the known columns only (a block with bad lines too): inference's on those
        assert parsed.frame.equals(inferred(block))
        assert parsed.reread().equals(plain.frame)


@pytest.mark.parametrize("rows, expected", [
    ([{"id": False}, {"id": 0}], ["false", "0"]),  # no common type: polars cannot infer one
    ([{"id": {"a": 1}}, {"id": 2.5}], ['{"a": 1}', "2.5"]),  # polars' text of an object
    ([{"id": "x"}, {"id": False}, {"id": {"a": 1}}], ["x", "false", '{"a": 1}']),
    ([{"id": "x"}, {"id": 3}], ["x", "3"]),  # text and a number: polars' own reading
])
def test_values_without_a_common_type_are_read_as_text_not_a_crash(rows, expected):
    parsed = parse_ndjson_block(ndjson(rows), "e.ndjson", 1, 0)
    assert not parsed.rejects
    assert parsed.frame.get_column("id").to_list() == expected


def test_every_key_without_a_common_type():
    rows = [{"a": False, "b": {"x": 1}}, {"a": {"k": 1}, "b": [1]}, {"a": "t", "b": 2}]
    frame = parse_ndjson_block(ndjson(rows), "e.ndjson", 1, 0).frame
    assert frame.select("a", "b").rows() == [("false", '{"x": 1}'), ('{"k": 1}', "[1]"),
                                             ("t", "2")]


MAPPING = """\
version: 1
operations:
  - type: person
    action: event
    identifiers: {id: user_id}
    name: event
    timestamp: now
    attributes: {amount: amount}
"""


def test_a_run_reads_later_blocks_for_the_mapped_columns_with_the_same_bodies(tmp_path,
                                                                             monkeypatch):
    """Blocks after the first are read for the mapping's columns; the bodies are those of
    reading every column, and a rejected row in a later block shows all of its line."""
    from backfill import api
    from backfill.sources import files

    rows = [{"user_id": f"u{i}", "event": "viewed", "amount": i / 4, "page": f"/p/{i}"}
            for i in range(3000)]
    rows[2500]["user_id"] = ""  # no identifier: rejected, far past the first block
    (tmp_path / "e.ndjson").write_bytes(ndjson(rows))
    (tmp_path / "m.yaml").write_text(MAPPING)
    monkeypatch.setattr(files, "BLOCK_BYTES", 8192)
    paths = []
    spied = parse_ndjson.parse_ndjson_block

    def spy(*args):
        parsed = spied(*args)
        paths.append(parsed.path)
        return parsed

    monkeypatch.setattr(files, "parse_ndjson_block", spy)

    def validate(name):
        report = api.validate(str(tmp_path / "m.yaml"), str(tmp_path / "e.ndjson"),
                              rejects=tmp_path / f"{name}.rejects", dump_batches=tmp_path / name)
        return (tmp_path / name).read_bytes(), report, (tmp_path / f"{name}.rejects").read_bytes()

    known, report, rejects = validate("known")
    assert paths.count("known") > 20 and report.rows_rejected == 1
    [line] = rejects.splitlines()
    assert orjson.loads(line)["record"] == {"user_id": "", "event": "viewed", "amount": 625.0,
                                            "page": "/p/2500"}
    monkeypatch.setattr(files.InputReader, "read_only", lambda self, columns: None)
    paths.clear()
    every, _, every_rejects = validate("every")
    assert "known" not in paths
    assert known == every and rejects == every_rejects
