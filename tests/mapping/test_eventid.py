"""eventid.ulids: the same ULIDs as python-ulid builds from (time, the first 10 bytes of a hash of
the content), the hash made by an independent library: the xxhash package's XXH3-128 for `auto`,
hashlib's BLAKE2b for `auto-v1`."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st
from ulid import ULID

from backfill.errors import UsageError
from backfill.mapping.eventid import MAX_MS, ulids

HASHES = {"auto": lambda data: xxhash.xxh3_128_digest(data)[:10],
          "auto-v1": lambda data: hashlib.blake2b(data, digest_size=10).digest()}


def expected(text: str, ts: int | None, row: int, scheme: str) -> str:
    data = text.encode() + (b"\x00row:" + str(row).encode() if ts is None else b"")
    ms = min(max(ts or 0, 0) * 1000, MAX_MS)
    return str(ULID.from_bytes(ms.to_bytes(6, "big") + HASHES[scheme](data)))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(HASHES)),
       st.lists(st.tuples(st.text(max_size=300),
                          st.one_of(st.none(), st.integers(-10**6, 10**16),
                                    st.sampled_from([0, 1_700_000_000, MAX_MS // 1000 + 5]))),
                max_size=30))
def test_ulids_match_python_ulid(scheme, events):
    texts = [t for t, _ in events]
    stamps = [s for _, s in events]
    rows = list(range(len(events)))
    got = ulids(pl.Series(texts, dtype=pl.String), pl.Series(stamps, dtype=pl.Int64),
                pl.Series(rows, dtype=pl.Int64), scheme).to_list()
    assert got == [expected(t, s, r, scheme) for t, s, r in zip(texts, stamps, rows, strict=True)]


# Fixed for good: an id that changed between versions would duplicate events on a replay.
@pytest.mark.parametrize(("scheme", "ids"), [
    ("auto", ["01HF7YAT007J6185K3NKTT3DNQ", "000000000007R2YA7YTC27K094"]),
    ("auto-v1", ["01HF7YAT008AMMVHJS8ZV0FKZD", "0000000000A4EY6GE7S4QKQ3NS"]),
])
def test_ids_are_the_published_ones(scheme, ids):
    got = ulids(pl.Series(['{"a":1}', "é"]), pl.Series([1_700_000_000, None]), pl.Series([0, 1]),
                scheme)
    assert got.to_list() == ids


def test_a_broken_hashing_library_stops_before_anything_is_read(monkeypatch):
    """Ids that differ from the published ones, or a library that cannot load: a clear error."""
    from backfill.mapping import eventid
    from backfill.mapping.config import parse_mapping
    from backfill.mapping.encode import Encoder

    mapping = parse_mapping("version: 1\noperations:\n  - {type: person, action: event, "
                            "identifiers: {id: u}, name: n, timestamp: now}\n", "m.yaml")
    Encoder(mapping)  # this machine's hashing gives the published ids
    for broken in (lambda digest: (digest // 3, digest % 5),
                   lambda digest: (_ for _ in ()).throw(ImportError("no polars_hash"))):
        eventid.check_scheme.cache_clear()
        monkeypatch.setattr(eventid, "_v2", broken)
        with pytest.raises(UsageError, match="event ids .dedupe_id: auto. cannot be made"):
            Encoder(mapping)
    eventid.check_scheme.cache_clear()
