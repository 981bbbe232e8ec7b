"""Body.encode: grouped by null pattern, or cleaned by the regex, the same JSON as Python's."""

from __future__ import annotations

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backfill.mapping import jsonbody
from backfill.mapping.jsonbody import Body, Obj, cleaned, json_text, strip_nulls

VALUES = st.one_of(st.none(), st.sampled_from(["", "a", 'q"u', "é", "null", ',"b":null']))


def body() -> Body:
    attrs = Obj()
    for name in ("a", "b", "c"):
        attrs.add(name, pl.col(name), droppable=True)
    attrs.add("kept", pl.col("kept"))  # not droppable: sent as null
    obj = Obj()
    obj.add("type", pl.lit("person"))
    obj.add("id", pl.col("id"), droppable=True)
    obj.add("attributes", attrs, droppable=True)
    return Body(obj, "__t_")


def expected(row: dict) -> dict:
    out: dict = {"type": "person"}
    if row["id"] is not None:
        out["id"] = row["id"]
    attrs = {k: row[k] for k in ("a", "b", "c") if row[k] is not None}
    attrs["kept"] = row["kept"]
    out["attributes"] = attrs
    return out


def encoded(rows: list[dict]) -> list[dict]:
    b = body()
    frame = pl.DataFrame(rows, schema={c: pl.String for c in ("id", "a", "b", "c", "kept")})
    leaves = frame.select(b.leaves)
    return [orjson.loads(t) for t in b.encode(leaves).to_list()]


ROWS = st.lists(st.fixed_dictionaries({c: VALUES for c in ("id", "a", "b", "c", "kept")}),
                min_size=1, max_size=30)


@settings(max_examples=150, deadline=None)
@given(ROWS)
def test_grouped_by_null_pattern(rows):
    assert encoded(rows) == [expected(r) for r in rows]


@settings(max_examples=100, deadline=None)
@given(ROWS)
def test_cleaned_by_the_regex_when_there_are_too_many_patterns(rows):
    saved = jsonbody.MAX_PATTERNS
    jsonbody.MAX_PATTERNS = 0
    try:
        assert encoded(rows) == [expected(r) for r in rows]
    finally:
        jsonbody.MAX_PATTERNS = saved


@pytest.mark.parametrize("n", [1, 3])
def test_an_object_whose_members_are_all_empty_is_left_out(n):
    rows = [{"id": "1", "a": None, "b": None, "c": None, "kept": "k"}] * n
    b = Obj()
    b.add("id", pl.col("id"))
    inner = Obj()
    inner.add("a", pl.col("a"), droppable=True)
    b.add("attributes", inner, droppable=True)
    compiled = Body(b, "__t_")
    frame = pl.DataFrame(rows).select(compiled.leaves)
    assert compiled.encode(frame).to_list() == ['{"id":"1"}'] * n


@pytest.mark.parametrize("max_patterns", [jsonbody.MAX_PATTERNS, 0])
def test_an_object_sent_as_empty_and_rows_left_with_literals_only(monkeypatch, max_patterns):
    # a relationship's attributes are sent as {} when all are empty; where its identifiers are
    # empty too (an absent relationship), only literals are left: each row still gets a text
    monkeypatch.setattr(jsonbody, "MAX_PATTERNS", max_patterns)
    ids, attrs, rel = Obj(), Obj(), Obj()
    ids.add("id", pl.col("id"), droppable=True)
    attrs.add("role", pl.col("role"), droppable=True)
    rel.add("identifiers", ids)
    rel.add("relationship_attributes", attrs, droppable=jsonbody.EMPTY_AS_OBJECT)
    compiled = Body(rel, "__t_")
    frame = pl.DataFrame({"id": ["1", "2", None, None, None], "role": ["r", None, "s", None, None]})
    texts = compiled.encode(frame.select(compiled.leaves)).to_list()
    assert len(texts) == 5  # the last three are not sent (`compile.Listed`): any text will do
    assert [orjson.loads(t) for t in texts[:2]] == [
        {"identifiers": {"id": "1"}, "relationship_attributes": {"role": "r"}},
        {"identifiers": {"id": "2"}, "relationship_attributes": {}}]


def test_past_max_patterns_a_kept_null_with_a_droppable_namesake_stays(monkeypatch):
    """Cut out by name, `"id":null` would also go where `id` keeps its null (nulls: clear)."""
    monkeypatch.setattr(jsonbody, "MAX_PATTERNS", 0)
    attrs = Obj()
    attrs.add("id", pl.col("a"))  # kept: sent as null
    obj = Obj()
    obj.add("id", pl.col("i"), droppable=True)  # left out when null
    obj.add("attributes", attrs)
    compiled = Body(obj, "__t_")
    rows = pl.DataFrame({"i": [None, "x"], "a": [None, None]}, schema={"i": pl.String,
                                                                       "a": pl.String})
    assert compiled.encode(rows.select(compiled.leaves)).to_list() == [
        '{"attributes":{"id":null}}', '{"id":"x","attributes":{"id":null}}']


def test_cleaned_strips_only_the_texts_with_nulls_and_keeps_the_others_in_place():
    """`cleaned` sends only the texts holding `":null` through the regular expressions: the
    same texts as the expressions over every row, each in its row."""
    rel = pl.Series("r", [{"role": "admin", "n": 1}, {"role": None, "n": 2}, None,
                          {"role": "x:null", "n": None}, {"role": None, "n": None}])
    frame = rel.to_frame()
    got = frame.select(cleaned(pl.col("r"), {"role", "n"})).to_series().to_list()
    every = frame.select(pl.when(pl.col("r").is_not_null()).then(
        strip_nulls(json_text(pl.col("r")), {"role", "n"}))).to_series().to_list()
    assert got == every == ['{"role":"admin","n":1}', '{"n":2}', None, '{"role":"x:null"}', "{}"]
    clean = pl.DataFrame({"r": [{"role": "a", "n": 1}] * 3})
    assert clean.select(cleaned(pl.col("r"), {"role"})).to_series().to_list() == \
        ['{"role":"a","n":1}'] * 3
