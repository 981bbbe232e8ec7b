"""`as:` conversions as polars expressions. Pure.

`convert(expr, dtype, as_)` returns the converted value and a boolean expression that is true where
a non-empty value could not be converted (the row is then rejected with stage `mapping`).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from backfill.mapping.jsonbody import json_text
from backfill.mapping.model import TimeFormat

TRUE = ("true", "t", "yes", "y", "1")
FALSE = ("false", "f", "no", "n", "0")
NESTED = (pl.Struct, pl.List, pl.Array)

_TZ_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M",
                  "%Y-%m-%d %H:%M")
MS_THRESHOLD = 100_000_000_000  # epoch values at or above this are milliseconds (13 digits)
# forms no reader can take two ways, tried after the ISO ones: 17 Dec 2021, Dec 17, 2021, RFC 2822
_WORDY_FORMATS = ("%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y", "%B %d %Y",
                  "%d-%b-%Y", "%a, %d %b %Y %H:%M:%S %z", "%Y/%m/%d", "%Y/%m/%d %H:%M:%S")
# 03/04/2024 is 3 April or March 4: read only when the mapping says which (`day_first:`)
_DAY_FIRST = tuple(f"%d{sep}%m{sep}%Y{time}" for sep in "/.-"
                   for time in ("", " %H:%M", " %H:%M:%S"))
_MONTH_FIRST = tuple(f.replace("%d", "#").replace("%m", "%d").replace("#", "%m")
                     for f in _DAY_FIRST)


def is_nested(dtype: pl.DataType) -> bool:
    return isinstance(dtype, NESTED)


def convert(expr: pl.Expr, dtype: pl.DataType, as_: str | None,
            time: TimeFormat | None = None) -> tuple[pl.Expr, pl.Expr]:
    """(converted value, failed) for a column expression of the given dtype; `time`: how
    `as: timestamp` reads text beyond its built-in forms."""
    if as_ is None:
        return expr, pl.lit(False)
    value = _timestamp(expr, dtype, time) if as_ == "timestamp" else _CONVERTERS[as_](expr, dtype)
    present = expr.is_not_null()
    if dtype == pl.String:
        present = present & (expr.str.strip_chars() != "")
    return value, present & value.is_null()


def _string(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return expr
    if is_nested(dtype):
        return json_text(expr)
    if dtype == pl.Boolean:
        return pl.when(expr).then(pl.lit("true")).when(~expr).then(pl.lit("false"))
    return expr.cast(pl.String)


def _int(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        text = expr.str.strip_chars()
        as_float = text.cast(pl.Float64, strict=False)
        whole = pl.when(as_float.is_finite() & (as_float == as_float.floor())
                        & (as_float.abs() < 2**53)).then(as_float.cast(pl.Int64))
        return pl.coalesce(text.cast(pl.Int64, strict=False), whole)
    if dtype.is_integer():
        return expr.cast(pl.Int64, strict=False)
    if dtype.is_float():
        return pl.when(expr.is_finite() & (expr == expr.floor())).then(expr.cast(pl.Int64))
    if dtype == pl.Boolean:
        return expr.cast(pl.Int64)
    return pl.lit(None, dtype=pl.Int64)


def _float(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        value = expr.str.strip_chars().cast(pl.Float64, strict=False)
    elif dtype.is_numeric():
        value = expr.cast(pl.Float64)
    else:
        return pl.lit(None, dtype=pl.Float64)
    return pl.when(value.is_finite()).then(value)


def _bool(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return expr
    if dtype == pl.String:
        text = expr.str.strip_chars().str.to_lowercase()
        return pl.when(text.is_in(TRUE)).then(True).when(text.is_in(FALSE)).then(False)
    if dtype.is_numeric():
        return pl.when(expr == 1).then(True).when(expr == 0).then(False)
    return pl.lit(None, dtype=pl.Boolean)


def _timestamp(expr: pl.Expr, dtype: pl.DataType, time: TimeFormat | None = None) -> pl.Expr:
    if dtype == pl.String:
        time = time or TimeFormat()
        zone = time.timezone
        text = expr.str.strip_chars()
        given = [_strptime(f, zone)(text) for f in time.formats]
        epoch = _seconds(text.cast(pl.Int64, strict=False))
        iso = text.str.replace(r"[zZ]$", "+00:00")
        parsed = [iso.str.to_datetime(f, strict=False, time_zone="UTC", cache=False).dt.epoch("s")
                  for f in _TZ_FORMATS]
        parsed += [_strptime(f, zone)(iso) for f in _NAIVE_FORMATS]
        parsed.append(_naive("%Y-%m-%d", zone)(iso))
        ordered = () if time.day_first is None else _DAY_FIRST if time.day_first \
            else _MONTH_FIRST
        parsed += [_strptime(f, zone)(text) for f in (*_WORDY_FORMATS, *ordered)]
        return pl.coalesce(*given, epoch, *parsed)
    if dtype.is_integer():
        return _seconds(expr.cast(pl.Int64))
    if dtype.is_float():
        value = pl.when(expr.is_finite()).then(expr)
        seconds = pl.when(value.abs() >= MS_THRESHOLD).then(value / 1000).otherwise(value)
        return seconds.floor().cast(pl.Int64)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None and time is not None:  # a wall-clock time, as text would be
            return _seconds_in(expr, time.timezone)
        return expr.dt.epoch("s")
    if dtype == pl.Date:
        return expr.cast(pl.Datetime("ms")).dt.epoch("s")
    return pl.lit(None, dtype=pl.Int64)


def _json(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """JSON text, parsed and embedded by the encoder (`encode._prepare_json`); typed columns
    are sent as they are."""
    return expr


_CONVERTERS = {
    "string": _string,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "timestamp": _timestamp,
    "json": _json,
}


Wanted = dict[tuple[str, str, TimeFormat | None], str]  # (text column, as:, format) -> target


def convert_texts(frame: pl.DataFrame, wanted: Wanted, hint: dict[str, int] | None = None,
                  memo: dict[str, dict] | None = None) -> pl.DataFrame:
    """Each (text column, as:, timestamp format) of `wanted` converted into its target column, with a boolean
    `<target>_failed`, each value computed once.

    Each kind has a few cheap exact readings (a plain integer, `true`/`false`, a finite float, an
    epoch time, an ISO time ending in `Z`, in `+00:00`, one with another offset, `2024-01-02 03:04:05`,
    `2024-01-02T03:04:05`, `2024-01-02`) and the full one of `convert`. The
    first reading runs on every value, for all the columns in one query; only the values still
    unread go on to the other readings, then the full one. A column in one common format costs one
    pass, not one per format. Gives the same result as `convert` (tests/test_convert.py).

    `hint`, kept by the caller from chunk to chunk: per target column, the reading that read
    values last, tried first in the next chunk (a column of ISO times does not first try to read
    every value as a number). Only the order changes, never the result. `memo`, kept the same
    way: the values no cheap reading read, with what the full reading made of them (`_rest`).
    """
    if not wanted:
        return frame
    hint = {} if hint is None else hint
    values, flags = [], []
    for (source, as_, time), target in wanted.items():
        v = pl.col(source)
        values.append(_readings(as_, time)[hint.get(target, 0)](v).alias(target))
        flags.append((pl.col(target).is_null() & v.is_not_null() & (v != ""))
                     .alias(f"{target}_failed"))
    # the flags read the values computed before them: each reading runs once
    frame = frame.lazy().with_columns(values).with_columns(flags).collect()
    pending = [frame.get_column(f"{t}_failed").any() for t in wanted.values()]
    updates = []
    for ((source, as_, time), target), unread in zip(wanted.items(), pending, strict=True):
        if unread:
            out, failed = _rest(frame.get_column(source), frame.get_column(target),
                                frame.get_column(f"{target}_failed"), (as_, time), hint, target,
                                memo)
            updates += [out.alias(target), failed.alias(f"{target}_failed")]
    return frame.with_columns(updates) if updates else frame


def convert_text(values: pl.Series, as_: str, time: TimeFormat | None = None
                 ) -> tuple[pl.Series, pl.Series]:
    """One text column converted: (converted, failed). See `convert_texts`."""
    out = convert_texts(pl.DataFrame({"t": values}), {("t", as_, time): "v"})
    return out.get_column("v"), out.get_column("v_failed")


MEMO_VALUES = 256  # a chunk with more values left unread reads them all, unremembered
MEMO_SIZE = 4096  # texts remembered per column


def _rest(values: pl.Series, out: pl.Series, rest: pl.Series,
          conversion: tuple[str, TimeFormat | None], hint: dict[str, int], target: str,
          memo: dict[str, dict] | None = None) -> tuple[pl.Series, pl.Series]:
    """The values the first reading left unread: the other readings, then the full one. With
    `memo` (kept by the caller from chunk to chunk), a text read this way before is not read
    again: an export's odd values repeat ("N/A", "0000-00-00"), and the full reading costs
    about the same for a few values as for a chunk."""
    index = rest.arg_true()
    left = values.gather(index)
    seen = memo.setdefault(target, {}) if memo is not None and len(left) <= MEMO_VALUES \
        else None
    if seen is None:
        got, failed = _read_left(left, out.dtype, conversion, hint, target)
    else:
        texts = left.to_list()
        new = [t for t in dict.fromkeys(texts) if t not in seen]
        found = {}
        if new:
            got, failed = _read_left(pl.Series("t", new, dtype=pl.String), out.dtype, conversion,
                                     hint, target)
            found = dict(zip(new, zip(got.to_list(), failed.to_list(), strict=True), strict=True))
            if len(seen) + len(found) <= MEMO_SIZE:
                seen.update(found)
        pairs = [found[t] if t in found else seen[t] for t in texts]
        got = pl.Series([p[0] for p in pairs], dtype=out.dtype)
        failed = pl.Series([p[1] for p in pairs], dtype=pl.Boolean)
    return out.scatter(index, got), (rest & False).scatter(index, failed)


def _read_left(left: pl.Series, dtype: pl.DataType, conversion: tuple[str, TimeFormat | None],
               hint: dict[str, int], target: str) -> tuple[pl.Series, pl.Series]:
    """(value, failed) of each of `left`: the readings but the one tried first, in order (the
    first that reads a value wins), then the full one."""
    index = pl.int_range(0, len(left), dtype=pl.UInt32, eager=True)
    out = pl.Series([None] * len(left), dtype=dtype)
    no = pl.Series([False] * len(left), dtype=pl.Boolean)
    tried = hint.get(target, 0)
    as_, time = conversion
    for number, reading in enumerate(_readings(as_, time)):
        if number == tried:
            continue
        got = left.to_frame("t").select(reading(pl.col("t"))).to_series()
        if got.null_count() == len(got):
            continue
        hint[target] = number
        out = out.scatter(index, got)
        unread = got.is_null()
        index, left = index.filter(unread), left.filter(unread)
        if not len(left):
            return out, no
    value, failed = convert(pl.col("t"), pl.String, as_, time)
    full = left.to_frame("t").select(value.alias("v"), failed.alias("f"))
    return out.scatter(index, full.get_column("v")), no.scatter(index, full.get_column("f"))


def _seconds(number: pl.Expr) -> pl.Expr:
    """Epoch seconds from epoch seconds or milliseconds."""
    return pl.when(number.abs() >= MS_THRESHOLD).then(number // 1000).otherwise(number)


def _iso_utc(v: pl.Expr) -> pl.Expr:
    """`2024-01-02T03:04:05Z`, the commonest export format, read as UTC."""
    return v.str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False, cache=False).dt.epoch("s")


def _iso_utc_offset(v: pl.Expr) -> pl.Expr:
    """`2024-01-02T03:04:05+00:00`, UTC written as an offset (what most exports write): the
    time before the offset, read without `%z`, which polars parses several times faster."""
    return pl.when(v.str.ends_with("+00:00")).then(_naive("%Y-%m-%dT%H:%M:%S")(
        v.str.strip_suffix("+00:00")))


def _iso_offset(v: pl.Expr) -> pl.Expr:
    """`2024-01-02T03:04:05+02:00`, the other common export format."""
    return v.str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False, time_zone="UTC",
                             cache=False).dt.epoch("s")


def _naive(fmt: str, zone: str | None = None) -> Callable[[pl.Expr], pl.Expr]:
    """A time without a zone (in `zone`, default UTC, as the full reading does), or a date."""
    if fmt == "%Y-%m-%d":
        return lambda v: _seconds_in(v.str.to_date(fmt, strict=False).cast(pl.Datetime("ms")),
                                     zone)
    return _strptime(fmt, zone)


def _strptime(fmt: str, zone: str | None) -> Callable[[pl.Expr], pl.Expr]:
    """A strftime pattern's reading: a value with an offset (`%z`) as it says, one without in
    `zone`."""
    if "%z" in fmt:
        return lambda v: v.str.to_datetime(fmt, strict=False, time_zone="UTC",
                                           cache=False).dt.epoch("s")
    return lambda v: _seconds_in(v.str.to_datetime(fmt, strict=False, cache=False), zone)


def _seconds_in(naive: pl.Expr, zone: str | None) -> pl.Expr:
    """Epoch seconds of a wall-clock time in `zone` (a time that zone skips is not read)."""
    if zone in (None, "UTC"):
        return naive.dt.epoch("s")
    return naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null") \
        .dt.epoch("s")


def _finite(v: pl.Expr) -> pl.Expr:
    number = v.cast(pl.Float64, strict=False)
    return pl.when(number.is_finite()).then(number)


def _true_false(v: pl.Expr) -> pl.Expr:
    return pl.when(v == "true").then(True).when(v == "false").then(False)


def _epoch(v: pl.Expr) -> pl.Expr:
    return _seconds(v.cast(pl.Int64, strict=False))


# cheap exact readings, in the order they are tried when there is no hint
_READINGS = {
    "int": (lambda v: v.cast(pl.Int64, strict=False),),
    "float": (_finite,),
    "bool": (_true_false,),
    "string": (lambda v: v,),
}


def _readings(as_: str, time: TimeFormat | None) -> tuple[Callable[[pl.Expr], pl.Expr], ...]:
    """The cheap readings of a conversion; for timestamps, the mapping's formats first."""
    if as_ != "timestamp":
        return _READINGS[as_]
    zone = time.timezone if time else None
    given = tuple(_strptime(f, zone) for f in time.formats) if time else ()
    return (*given, _epoch, _iso_utc, _iso_utc_offset, _iso_offset,
            _naive("%Y-%m-%d %H:%M:%S", zone),
            _naive("%Y-%m-%dT%H:%M:%S", zone), _naive("%Y-%m-%d", zone))
