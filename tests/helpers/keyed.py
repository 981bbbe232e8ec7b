"""Operations with their state keys, for the tests of `nightly/diff.py` and `statefile.py`: a
frame of identify texts keyed as `--state` keys them, and a state holding them."""

from __future__ import annotations

import polars as pl

from backfill.contract import JSON, OP, ROW
from backfill.nightly.keys import CH, KH, with_keys


def ops(texts: list[str], rows: list[int] | None = None) -> pl.DataFrame:
    frame = pl.DataFrame({ROW: rows or list(range(len(texts))), OP: [0] * len(texts),
                          JSON: texts}, schema={ROW: pl.Int64, OP: pl.Int32, JSON: pl.String})
    return with_keys(frame, [("person", "identify", False)])


def identify(user: str, plan: str) -> str:
    return (f'{{"type":"person","identifiers":{{"id":"{user}"}},"action":"identify",'
            f'"attributes":{{"plan":"{plan}"}}}}')


def state_of(texts: list[str]) -> pl.DataFrame:
    return ops(texts).select(KH, CH).sort(KH)
