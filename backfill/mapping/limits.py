"""The Track API's documented limits, as polars expressions that name the field, size and limit.

Pure. Each check yields a reason string where a row breaks the limit, null elsewhere; the encoder
takes the first reason of a row's first failing operation. The 100,000-byte limits on event data
and on object/relationship attributes are enforced through the 32,000-byte operation limit,
which is stricter: an operation within 32,000 bytes cannot carry more than 100,000 bytes.
"""

from __future__ import annotations

import polars as pl

from backfill.contract import BATCH_OVERHEAD, MAX_BATCH_BYTES

MAX_OP_BYTES = 32_000
MAX_ID_BYTES = 150
MAX_NAME_BYTES = 150
MAX_VALUE_BYTES = 1000
MAX_ATTRIBUTES = 300
MAX_EVENT_NAME_BYTES = 100


def _over(size: pl.Expr, limit: int, what: str) -> pl.Expr:
    return pl.when(size > limit).then(
        pl.format("{} is {} bytes; the limit is {}", pl.lit(what), size, pl.lit(limit))
    )


def identifier_too_long(name: str, value: pl.Expr, where: str = "") -> pl.Expr:
    return _over(value.str.len_bytes(), MAX_ID_BYTES, f"{where}identifier '{name}'")


def value_too_long(name: str, size: pl.Expr, where: str = "attribute") -> pl.Expr:
    return _over(size, MAX_VALUE_BYTES, f"{where} '{name}' value")


def event_name_too_long(name: pl.Expr) -> pl.Expr:
    return _over(name.str.len_bytes(), MAX_EVENT_NAME_BYTES, "event name")


def too_many_attributes(count: pl.Expr, where: str = "attributes") -> pl.Expr:
    return pl.when(count > MAX_ATTRIBUTES).then(
        pl.format("{} {}; the limit is {}", count, pl.lit(where), pl.lit(MAX_ATTRIBUTES))
    )


def operation_too_large(json: pl.Expr) -> pl.Expr:
    return _over(json.str.len_bytes(), MAX_OP_BYTES, "the operation")


def row_too_large(total: pl.Expr) -> pl.Expr:
    """A row's operations go in one batch: together they must fit in one body."""
    limit = MAX_BATCH_BYTES - BATCH_OVERHEAD
    return _over(total, limit, "the row's operations together")


def first_reason(reasons: list[pl.Expr]) -> pl.Expr:
    return pl.coalesce(reasons) if reasons else pl.lit(None, dtype=pl.String)
