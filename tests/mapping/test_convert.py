"""convert_text (cheap readings first, per chunk) must agree with convert (every reading)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backfill.mapping.convert import convert, convert_text, convert_texts

SAMPLES = [
    "", " ", "  7 ", "0", "-12", "1700000000", "1700000000123", "-1700000000123", "1.5", "1.0",
    "-0.0", "1e3", "1e400", "nan", "inf", "-inf", ".5", "5.", "+3", "0x10", "1_000", "abc",
    "true", "false", "True", "FALSE", " yes", "n", "1", "t", "maybe",
    "2024-01-02T03:04:05Z", "2024-01-02T03:04:05z", " 2024-01-02T03:04:05Z ",
    "2024-01-02T03:04:05.250Z", "2024-01-02T03:04:05+02:00", "2024-01-02 03:04:05",
    "2024-01-02", "2023-02-30", "2023-02-30T00:00:00Z", "2024-1-2T3:4:5Z", "2024-01-02T03:04Z",
    "2024-01-02T03:04:05Zx", "9999999999999999999", "12345678901234567890123",
    "2024-01-02T03:04:05-0530", "2024-01-02T03:04:05+00:00", "2024-01-02T03:04:05.5+00:00",
    "2024-01-02T03:04:05 +01:00", "2024-01-02T03:04:05+1", "2024-01-02T03:04:05+01:00:00",
    "2024-1-2T3:4:5+00:00", "2024-01-02T03:04:60+00:00", "2024-01-02T03:04:05 +00:00",
    " 2024-01-02T03:04:05+00:00", "2024-01-02T24:00:00+00:00", "2023-02-30T00:00:00+00:00",
    "2024-01-02 03:04:05+00:00", "2024-01-02T03:04+00:00", "+00:00", "2024-01-02+00:00",
    "02024-01-02T03:04:05+00:00", "2024-01-02T03:04:05+00:00+00:00",
]
PIECES = st.sampled_from(["2024", "-", "01", "T", ":", "05", "Z", "z", ".", "250", "+02:00",
                          " ", "1", "0", "e", "true", "x", "9", "170000000012", "-05",
                          "+0530", "+00:00"])


def reference(values: list[str | None], as_: str) -> tuple[list, list]:
    value, failed = convert(pl.col("t"), pl.String, as_)
    out = pl.DataFrame({"t": values}, schema={"t": pl.String}).select(value.alias("v"),
                                                                      failed.alias("f"))
    return out["v"].to_list(), out["f"].to_list()


def fast(values: list[str | None], as_: str) -> tuple[list, list]:
    out, failed = convert_text(pl.Series("t", values, dtype=pl.String), as_)
    return out.to_list(), failed.to_list()


@pytest.mark.parametrize("as_", ["int", "float", "bool", "timestamp"])
def test_samples_agree_with_the_full_reading(as_):
    values = [*SAMPLES, None]
    assert fast(values, as_) == reference(values, as_)


@pytest.mark.parametrize("as_", ["int", "float", "bool", "timestamp"])
def test_a_column_of_one_format_agrees(as_):
    for value in SAMPLES:
        values = [value] * 3 + [None, ""]
        assert fast(values, as_) == reference(values, as_), value


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SAMPLES), st.lists(PIECES, max_size=8).map("".join)),
                min_size=1, max_size=20),
       st.sampled_from(["int", "float", "bool", "timestamp"]))
def test_any_mix_agrees(values, as_):
    assert fast(values, as_) == reference(values, as_)


def remembered(chunks: list[list[str | None]], as_: str) -> list[tuple[list, list]]:
    """Chunks converted one after the other with one hint and one memo, as the encoder does."""
    hint: dict[str, int] = {}
    memo: dict[str, dict] = {}
    out = []
    for values in chunks:
        frame = pl.DataFrame({"t": values}, schema={"t": pl.String})
        got = convert_texts(frame, {("t", as_, None): "v"}, hint, memo)
        out.append((got["v"].to_list(), got["v_failed"].to_list()))
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.one_of(st.sampled_from(SAMPLES),
                                   st.lists(PIECES, max_size=8).map("".join)),
                         min_size=1, max_size=12), min_size=2, max_size=4),
       st.sampled_from(["int", "float", "bool", "timestamp"]))
def test_values_remembered_from_chunk_to_chunk_agree(chunks, as_):
    # odd values repeat from chunk to chunk: read once, remembered, the same result
    assert remembered(chunks, as_) == [reference(values, as_) for values in chunks]


def test_odd_values_are_read_once_then_remembered():
    memo: dict[str, dict] = {}
    hint = {"v": 1}  # ISO times ending in Z read first: the odd values are left
    for _ in range(2):
        frame = pl.DataFrame({"t": ["2024-01-02T03:04:05Z", "N/A", "2023-02-30"] * 2})
        out = convert_texts(frame, {("t", "timestamp", None): "v"}, hint, memo)
        assert out["v_failed"].to_list() == [False, True, True] * 2
    assert memo == {"v": {"N/A": (None, True), "2023-02-30": (None, True)}}


@pytest.mark.parametrize("hint", [{}, {"v": 0}, {"v": 1}, {"v": 2}, {"v": 3}, {"v": 5}])
def test_the_hint_changes_the_order_of_the_readings_not_the_result(hint):
    frame = pl.DataFrame({"t": ["2024-01-02T03:04:05+02:00", "2024-01-02T03:04:05Z", "x", ""]})
    out = convert_texts(frame, {("t", "timestamp", None): "v"}, hint)
    assert out["v"].to_list() == [1704157445, 1704164645, None, None]
    assert out["v_failed"].to_list() == [False, False, True, False]
    assert hint["v"] in (1, 3)  # the last reading that read something, tried first next time
