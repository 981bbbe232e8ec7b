"""Deterministic event ids: a ULID per event from its time and a hash of its content. Pure.

The time part (48 bits of milliseconds, 10 characters) is computed by polars; the other 80 bits
are the first 10 bytes of a hash of the operation's JSON. Two schemes, each fixed for good (an id
must not change when the same data is exported again; polars' own `hash` is not stable across
its versions, so neither scheme uses it):

- `auto` (version 2, backfill 0.3 on): XXH3-128 (seed 0, its canonical big-endian bytes),
  computed inside polars by the `polars-hash` plugin, without the GIL.
- `auto-v1` (backfill 0.2 and earlier): BLAKE2b with a 10-byte digest, one hashlib call per
  event, which holds the GIL (many times the CPU). Kept so that data first imported by those
  versions can be replayed with the same ids.

Both parts are turned into base32 by polars, two characters at a time.
"""

from __future__ import annotations

import hashlib
from functools import cache

import polars as pl

from backfill.errors import UsageError

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = pl.Series([a + b for a in CROCKFORD for b in CROCKFORD], dtype=pl.String)
MAX_MS = 2**48 - 1


def _base32(value: pl.Expr, digits: int) -> list[pl.Expr]:
    """An integer as `digits` (even) Crockford base32 characters, two at a time (a gather from
    the 1024 pairs: twice as fast as a `replace_strict`)."""
    return [pl.lit(_PAIRS).gather(value // 1024 ** (digits // 2 - 1 - k) % 1024)
            for k in range(digits // 2)]


def ulids(contents: pl.Series, timestamps: pl.Series, rows: pl.Series,
          scheme: str = "auto") -> pl.Series:
    """One ULID per event: `timestamps` in seconds (null: time part zero, and the row number
    joins the hashed content, so identical events without a time still differ). `scheme` is one
    of `model.ID_SCHEMES`."""
    if not len(contents):
        return pl.Series(values=[], dtype=pl.String)
    frame = pl.DataFrame({"c": contents, "t": timestamps.cast(pl.Int64), "r": rows})
    hashed = pl.col("c")
    if frame.get_column("t").null_count():
        hashed = pl.when(pl.col("t").is_null()).then(
            pl.concat_str(pl.col("c"), pl.lit("\x00row:"), pl.col("r").cast(pl.String))
        ).otherwise(pl.col("c"))
    if scheme == "auto-v1":
        hi, lo = _v1(frame, hashed)
    else:  # hashed once: each of hi and lo would hash again
        import polars_hash  # noqa: F401  (its `nchash` namespace; loaded by event mappings only)

        frame = frame.with_columns(hashed.nchash.xxh3_128().alias("h"))
        hi, lo = _v2(pl.col("h"))
    parts = frame.select(  # computed once each: the base32 digits read them several times
        (pl.col("t").fill_null(0).clip(0, MAX_MS // 1000 + 1) * 1000).clip(0, MAX_MS).alias("ms"),
        hi.cast(pl.Int64).alias("hi"), lo.cast(pl.Int64).alias("lo"))
    return parts.select(pl.concat_str([*_base32(pl.col("ms"), 10), *_base32(pl.col("hi"), 8),
                                       *_base32(pl.col("lo"), 8)])).to_series()


def _v2(digest: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The first 40 and the next 40 bits of an XXH3-128 (a UInt128: its canonical bytes are
    big-endian)."""
    return (digest // pl.lit(2**88, pl.UInt128),
            digest // pl.lit(2**48, pl.UInt128) % pl.lit(2**40, pl.UInt128))


def _v1(frame: pl.DataFrame, hashed: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The first 40 and the next 40 bits of the 10-byte BLAKE2b of each text."""
    digests = pl.lit(_digests(frame.select(hashed.cast(pl.Binary)).to_series().to_list()))
    return _bits(digests.bin.head(8)) // 2**24, _bits(digests.bin.slice(2, 8)) % 2**40


# One event's published ids: this machine must give them, or every id would differ from the ids
# sent before (a changed or broken hashing library), and replays would duplicate events.
_KNOWN = ('{"a":1}', 1_700_000_000, {"auto": "01HF7YAT007J6185K3NKTT3DNQ",
                                       "auto-v1": "01HF7YAT008AMMVHJS8ZV0FKZD"})


@cache
def check_scheme(scheme: str) -> None:
    """Raise UsageError unless `scheme` gives its published ids here; once per process, before
    anything is read (a library that fails to load would otherwise stop a run in its middle)."""
    text, stamp, want = _KNOWN
    try:
        got = ulids(pl.Series([text]), pl.Series([stamp]), pl.Series([0]), scheme).item()
        why = f"they differ from the published ones ({got}, not {want[scheme]})"
    except Exception as exc:  # noqa: BLE001 - an import or a plugin error alike
        got, why = None, f"{type(exc).__name__}: {exc}"
    if got != want[scheme]:
        raise UsageError(
            f"event ids (dedupe_id: {scheme}) cannot be made on this machine: {why}. Reinstall "
            "backfill's dependencies (pip install --force-reinstall polars-hash), or set "
            "dedupe_id: none or a column in the mapping")


_BLAKE2B = hashlib.blake2b(digest_size=10)


def _digests(data: list[bytes]) -> pl.Series:
    """The 10-byte BLAKE2b of each text: a copy of one prepared hasher costs 20% less than a
    new one each (hashlib holds the GIL for texts this short: this loop is what limits)."""
    out = []
    new = _BLAKE2B.copy
    for text in data:
        hasher = new()
        hasher.update(text)
        out.append(hasher.digest())
    return pl.Series(out, dtype=pl.Binary)


def _bits(eight: pl.Expr) -> pl.Expr:
    """Eight bytes as one big-endian integer."""
    return eight.bin.reinterpret(dtype=pl.UInt64, endianness="big")
