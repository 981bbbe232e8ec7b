"""eventid.ulids: the same ULIDs as python-ulid builds from (time, BLAKE2b of the content)."""

from __future__ import annotations

import hashlib

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from ulid import ULID

from backfill.mapping.eventid import MAX_MS, ulids


def expected(text: str, ts: int | None, row: int) -> str:
    data = text.encode() + (b"\x00row:" + str(row).encode() if ts is None else b"")
    ms = min(max(ts or 0, 0) * 1000, MAX_MS)
    return str(ULID.from_bytes(ms.to_bytes(6, "big")
                               + hashlib.blake2b(data, digest_size=10).digest()))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=40),
                          st.one_of(st.none(), st.integers(-10**6, 10**16),
                                    st.sampled_from([0, 1_700_000_000, MAX_MS // 1000 + 5]))),
                max_size=30))
def test_ulids_match_python_ulid(events):
    texts = [t for t, _ in events]
    stamps = [s for _, s in events]
    rows = list(range(len(events)))
    got = ulids(pl.Series(texts, dtype=pl.String), pl.Series(stamps, dtype=pl.Int64),
                pl.Series(rows, dtype=pl.Int64)).to_list()
    assert got == [expected(t, s, r) for t, s, r in zip(texts, stamps, rows, strict=True)]
