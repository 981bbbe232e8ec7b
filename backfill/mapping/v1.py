"""The v1 operations: segment membership (ids grouped per request by the packer) and form
submissions (one request a row). Pure."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from backfill.mapping import limits
from backfill.mapping.compile import CompiledOp, Compiler
from backfill.mapping.config import Operation
from backfill.mapping.jsonbody import Body, Obj, json_text


def segment(c: Compiler, op: Operation) -> CompiledOp:
    """v1: one id per row, for /api/v1/segments/{segment_id}/{action}?id_type=..."""
    ids = {}
    for name, v in op.identifiers:
        f = c.value(v, True, "")
        e = f.expr.cast(pl.String)
        ids[name] = pl.when(e.str.strip_chars() != "").then(e)
    value = pl.coalesce(list(ids.values()))
    id_type = pl.coalesce([pl.when(e.is_not_null()).then(pl.lit(n)) for n, e in ids.items()])
    assert op.segment_id is not None
    segment = c.value(op.segment_id, True, "segment_id:").expr.cast(pl.String)
    cols = " and ".join(f"'{v.column}'" for _, v in op.identifiers if v.column) or "?"
    mapping = limits.first_reason([
        pl.when(value.is_null()).then(pl.lit(f"no identifier: {cols} empty")),
        pl.when(~segment.fill_null("").str.contains(r"^\d+$")).then(pl.format(
            "segment_id \"{}\" is not a segment number", segment.fill_null("").str.head(40))),
    ])
    limit = limits.first_reason([limits.identifier_too_long(n, e) for n, e in ids.items()])
    json = json_text(value)
    path = pl.format("/api/v1/segments/{}/{}?id_type={}", segment, pl.lit(op.action),
                     id_type)
    return _request(c, op, json, mapping, limit, path)

def form(c: Compiler, op: Operation) -> tuple[CompiledOp, list[str]]:
    """v1: one request per row to /api/v1/forms/{form_id}/submit, data as strings."""
    data, problems = c.attributes(op, op.data, "data field", op.rest)
    fields = [(n, replace(f, expr=pl.when(f.expr.is_not_null()).then(f.expr.cast(pl.String)),
                          nested_keys=(), is_json=False)) for n, f in data]
    assert op.form_id is not None
    form_id = c.value(op.form_id, True, "form_id:").expr.cast(pl.String)
    reasons = [r for _, f in fields for r in f.failures]
    who = [f.expr for n, f in fields if n in ("id", "email")]
    reasons.append(pl.when(~pl.any_horizontal([e.is_not_null() for e in who])
                           if who else pl.lit(True)).then(
        pl.lit("form data has no 'id' or 'email' to identify the person")))
    if len(who) == 2:
        reasons.append(pl.when(pl.all_horizontal([e.is_not_null() for e in who])).then(
            pl.lit("form data has both 'id' and 'email'; the API takes exactly one")))
    reasons.append(pl.when(~form_id.fill_null("").str.contains(r"^[A-Za-z0-9_.~-]+$")).then(
        pl.format("form_id \"{}\" must be letters, digits, '_', '.', '~' or '-'",
                  form_id.fill_null("").str.head(40))))
    limit = limits.first_reason([limits.value_too_long(n, f.size, "data field")
                                 for n, f in fields if f.size is not None])
    body = Obj()
    for n, f in fields:
        body.add(n, f.expr, droppable=True)
    path = pl.format("/api/v1/forms/{}/submit", form_id)
    return (_request(c, op, Body(body, c.prefix()), limits.first_reason(reasons), limit,
                     path), problems)


def _request(c: Compiler, op: Operation, json: Body | pl.Expr, mapping: pl.Expr,
             limit: pl.Expr, path: pl.Expr) -> CompiledOp:
    """A v1 operation: its JSON, reasons and request path where it applies (`when:`)."""
    applies = c.applies(op)
    return CompiledOp(op, json, applies, pl.when(applies).then(mapping),
                      pl.when(applies).then(limit), [], pl.lit(None, dtype=pl.Int64),
                      pl.when(applies).then(path))
