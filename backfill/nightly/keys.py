"""What a nightly state knows an operation by: its key, and a hash of its exact bytes. Pure.

A key names what an operation is about, so that tonight's operation can be compared with the
one delivered last time for the same thing:

- people and objects (identify, relationships, suppress, ...): the text of the operation up to
  its action, `{"type":"person","identifiers":{"id":"u1"},"action":"identify"`; devices add
  their token; a merge is its whole text;
- events (event, page, screen, and `type: delivery`): the whole text, id included, so an event is
  either delivered before (the same bytes) or new;
- v1 requests (segments, forms): the request path and the whole text.

`KH` and `CH` are 64-bit polars hashes of the key and of the operation's bytes. Polars does not
promise the same hash across its versions: a state records a canary (`canary()`), and a state
whose canary differs is compared as if every row changed (a full re-send, said before it starts).
Only the keys of people and objects identified and of devices added are kept as text
(`MIRRORED`), and only for operations of the rows' own type, the mapping's first operation's
(`owned`): those are the ones `--missing` can delete.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from backfill.contract import JSON, OP, PATH

KEY, KH, CH = "__key", "__kh", "__ch"
REL = "__rel"  # the text of an operation that holds relationships (what a move is found from)
RELS = '"cio_relationships":'

_KEY_SEED, _CONTENT_SEED = 0x6B6579, 0x626F6479  # fixed: a state written today reads tomorrow
MIRRORED = {("person", "identify"), ("object", "identify"), ("person", "add_device")}
_TOKEN = r'^(.*?"device":\{"token":"(?:[^"\\]|\\.)*")'


def key_text(json: pl.Expr, type_: str, action: str, is_event: bool) -> pl.Expr:
    """The key of one mapping operation's JSON texts (see the module's notes)."""
    if is_event or action == "merge":
        return json
    if action in ("add_device", "delete_device"):
        return json.str.extract(_TOKEN, 1)
    mark = f'"action":"{action}"'
    return json.str.slice(0, json.str.find(mark, literal=True) + len(mark))


def with_keys(ops: pl.DataFrame, kinds: Sequence[tuple[str, str, bool]],
              related: bool = False) -> pl.DataFrame:
    """`ops` (the contract's operations frame) with `KEY` (text, mirrored kinds only), `KH`,
    `CH` and `REL` (with `related`, what `--missing` finds moves from: the text of an operation
    that holds relationships); `kinds[i]` is (type, action, is_event) of operation i."""
    json = pl.col(JSON)
    rel = pl.when(json.str.contains(RELS, literal=True)).then(json) if related else \
        pl.lit(None, dtype=pl.String)
    if PATH in ops.columns:  # v1: one operation a mapping, its path part of the key
        key, mirrored = pl.concat_str(pl.col(PATH), pl.lit("\x1f"), json), pl.lit(False)
        rel = pl.lit(None, dtype=pl.String)
    else:
        key = _by_op([key_text(json, *k) for k in kinds])
        kept = owned(kinds)
        mirrored = pl.lit(len(kept) == len(kinds)) if len(kept) in (0, len(kinds)) else \
            pl.col(OP).is_in(kept)
    keyed = ops.with_columns(key.alias(KEY))  # computed once: hashed, and kept where mirrored
    return keyed.with_columns(key_hash(pl.col(KEY)).alias(KH),
                              json.hash(_CONTENT_SEED).alias(CH),
                              pl.when(mirrored).then(pl.col(KEY)).alias(KEY), rel.alias(REL))


def owned(kinds: Sequence[tuple[str, str, bool]]) -> list[int]:
    """The mapping's operations whose keys `--missing` may undo: the mirrored kinds of the
    rows' own type, the first operation's (a people export's objects are only mentioned by
    its rows: a company no row names any more is not deleted for it)."""
    owner = kinds[0][0] if kinds else None
    return [i for i, k in enumerate(kinds) if k[:2] in MIRRORED and k[0] == owner]


def owner_keys(keys: pl.DataFrame, owner: str) -> pl.DataFrame:
    """Of a state's key texts, those of the rows' own type (a state written before ownership
    was kept may hold texts of mentioned objects)."""
    return keys.filter(pl.col(KEY).str.starts_with(f'{{"type":"{owner}"'))


def key_hash(key: pl.Expr) -> pl.Expr:
    """`KH` of a key's text (the state keeps texts, not their hashes, beside the hashes)."""
    return key.hash(_KEY_SEED)


def _by_op(exprs: list[pl.Expr]) -> pl.Expr:
    if len(exprs) == 1:
        return exprs[0]
    out = pl.when(pl.col(OP) == 0).then(exprs[0])
    for i, e in enumerate(exprs[1:], 1):
        out = out.when(pl.col(OP) == i).then(e)
    return out


_EVENT_TIME = (r'"action":"(?:event|page|screen)",(?:"id":"[0-9A-Z]*",)?'
               r'(?:"name":"(?:[^"\\]|\\.)*",)?"timestamp":(-?\d+)')


def event_time(json: pl.Expr) -> pl.Expr:
    """An event's own `timestamp` (Unix seconds; null when it has none): the member right
    after its action, id and name, never one among its attributes."""
    return json.str.extract(_EVENT_TIME, 1).cast(pl.Int64)


def canary() -> int:
    """The hash of a fixed text: differs when polars' hash does."""
    return int(pl.Series(["backfill state canary"]).hash(_KEY_SEED)[0])


def mirror_ops(keys: pl.Series, action: str) -> pl.Series:
    """Operations that undo mirrored keys: `delete` or `suppress` for people and objects
    identified (objects cannot be suppressed: none), `delete_device` for devices."""
    device = keys.str.contains('"action":"add_device"', literal=True)
    person = keys.str.starts_with('{"type":"person"')
    identify = keys.str.replace('"action":"identify"', f'"action":"{action}"', literal=True) + "}"
    undevice = keys.str.replace('"action":"add_device"', '"action":"delete_device"',
                                literal=True) + "}}"
    frame = pl.DataFrame({"d": device, "p": person, "i": identify, "u": undevice})
    return frame.select(
        pl.when(pl.col("d")).then(pl.col("u") if action == "delete" else None)
        .when(pl.col("p") | pl.lit(action == "delete")).then(pl.col("i"))
        .otherwise(None).alias(JSON)).to_series()
