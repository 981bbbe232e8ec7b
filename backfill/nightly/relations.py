"""The relationships a nightly state delivered, per key, so that a relationship that
disappears from a row can be removed (`--missing`): a person moved from company c006 to c999
gets a `delete_relationships` for c006 beside the add for c999; a row whose relationships are
all gone gets one for each. Kept as `rels-NNNNNNNN.parquet` segments (the key's hash, and the
text of the last operation delivered that held relationships) in the state's `.keys` folder,
which a state in object storage carries as it is."""

from __future__ import annotations

from pathlib import Path

import orjson
import polars as pl

from backfill.contract import JSON, NBYTES, OP, ROW
from backfill.nightly.keys import CH, KEY, KH, REL, key_hash
from backfill.runfiles.atomic import atomic_write

PATTERN = "rels-*.parquet"


def append(folder: Path, entries: pl.DataFrame, undo_op: int) -> None:
    """The relationship texts of tonight's acknowledged operations, the last of each key."""
    if REL not in entries.columns:
        return
    texts = entries.filter(pl.col(REL).is_not_null() & (pl.col(OP) != undo_op)) \
        .unique(KH, keep="last", maintain_order=True).select(KH, REL)
    if not texts.height:
        return
    folder.mkdir(parents=True, exist_ok=True)
    number = max((int(f.stem.split("-")[1]) for f in folder.glob(PATTERN)), default=0) + 1
    atomic_write(folder / f"rels-{number:08d}.parquet", lambda fh: texts.write_parquet(fh))


def merge(folder: Path, held: pl.Series, most: int) -> None:
    """One segment of the keys the state holds, once there are more than `most`."""
    segments = sorted(folder.glob(PATTERN)) if folder.is_dir() else []
    if len(segments) <= most:
        return
    merged = _latest(segments).join(pl.LazyFrame({KH: held}), on=KH, how="semi").collect()
    atomic_write(segments[0], lambda fh: merged.write_parquet(fh))
    for segment in segments[1:]:
        segment.unlink()


def delivered(folder: Path, wanted: pl.Series) -> pl.DataFrame:
    """(KH, REL) of these keys, as last delivered."""
    segments = sorted(folder.glob(PATTERN)) if folder.is_dir() else []
    if not segments or not len(wanted):
        return pl.DataFrame(schema={KH: pl.UInt64, REL: pl.String})
    return _latest(segments).filter(pl.col(KH).is_in(wanted.implode())).collect()


def _latest(segments: list[Path]) -> pl.LazyFrame:
    return pl.concat([pl.scan_parquet(s) for s in segments]).unique(
        KH, keep="last", maintain_order=True)


def removals(old: str, new: str | None) -> str | None:
    """The `delete_relationships` operation for what `old` (an operation's text) related to
    and `new` (tonight's, or None: nothing) does not; None when nothing went."""
    before, after = _related(old), _related(new) if new is not None else {}
    gone = [rel for key, rel in before.items() if key not in after]
    if not gone:
        return None
    start = old.find('"action":"')
    assert start >= 0
    head = old[:start] + '"action":"delete_relationships"'
    body = ",".join(orjson.dumps({"identifiers": rel}).decode() for rel in gone)
    return f'{head},"cio_relationships":[{body}]}}'


def _listed(text: pl.Expr) -> pl.Expr:
    """An operation's `cio_relationships` as text (the member the encoder writes last)."""
    return text.str.extract(r'"cio_relationships":(\[.*\])\}$', 1)


def _related(text: str) -> dict[bytes, dict]:
    """An operation's relationships by their identifiers (in canonical form)."""
    rels = orjson.loads(text).get("cio_relationships") or []
    return {orjson.dumps(r.get("identifiers") or {}, option=orjson.OPT_SORT_KEYS):
            r.get("identifiers") or {} for r in rels}


def removal_frame(folder: Path, tonight: list[pl.DataFrame], held: pl.Series | None,
                  gone: pl.Series, undone: pl.Series | None, undo_op: int) -> pl.DataFrame:
    """The operations removing the relationships that went, as the packer takes them (one a
    row, `OP` marking them as undos). A key still held gets its removal journaled under the
    removal's own hash (the key stays in the state, with tonight's relationships); a key gone
    from the input under its own (the key leaves the state once they are removed)."""

    empty = {ROW: pl.Int64, OP: pl.Int32, JSON: pl.String, NBYTES: pl.Int64, KH: pl.UInt64,
             CH: pl.UInt64, KEY: pl.String, REL: pl.String}
    if held is None or not len(held):
        return pl.DataFrame(schema=empty)
    new = pl.concat(tonight).unique(KH, keep="last", maintain_order=True) if tonight else \
        pl.DataFrame(schema={KH: pl.UInt64, REL: pl.String})
    new = new.filter(pl.col(KH).is_in(held.implode()))
    gone = gone.filter(~gone.is_in(undone.implode())) if undone is not None and len(gone) \
        else gone
    old = delivered(folder, pl.concat([new.get_column(KH), gone]))
    # only the keys whose relationships differ are compared one by one (an identify whose
    # attributes changed tonight holds the same relationships, most nights)
    both = old.join(new.rename({REL: "__new"}), on=KH, how="left").filter(
        pl.col("__new").is_null() | _listed(pl.col(REL)).is_null()
        | _listed(pl.col(REL)).ne_missing(_listed(pl.col("__new"))))
    rows = [(json, None if after is not None else kh)
            for kh, text, after in both.iter_rows()
            if (json := removals(text, after)) is not None]
    if not rows:
        return pl.DataFrame(schema=empty)
    frame = pl.DataFrame({JSON: [j for j, _ in rows], "__own": [k for _, k in rows]},
                         schema={JSON: pl.String, "__own": pl.UInt64})
    return frame.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias(ROW),
        pl.lit(undo_op, dtype=pl.Int32).alias(OP), JSON,
        pl.col(JSON).str.len_bytes().cast(pl.Int64).alias(NBYTES),
        pl.coalesce(pl.col("__own"), key_hash(pl.col(JSON))).alias(KH),
        pl.lit(0, dtype=pl.UInt64).alias(CH), pl.lit(None, dtype=pl.String).alias(KEY),
        pl.lit(None, dtype=pl.String).alias(REL))
