"""An operation assembled from its sections, in the order of its JSON members. Pure.

A v2 operation is its `type`, then `identity`, `device`, `event`, `attributes` and
`relationships` (`sections.py`); segments and forms are v1 requests (`v1.py`). A new operation is
a line here or in a section, plus its keys in `model.OPERATION_KEYS` and the schema table.
"""

from __future__ import annotations

import polars as pl

from backfill.mapping import limits, sections, v1
from backfill.mapping.compile import CompiledOp, Compiler, Parts
from backfill.mapping.jsonbody import Body, Obj
from backfill.mapping.model import Operation


def operation(c: Compiler, op: Operation) -> tuple[CompiledOp, list[str]]:
    """An operation from its sections, in the order of its JSON members."""
    if op.type == "segment":
        return v1.segment(c, op), []
    if op.type == "form":
        return v1.form(c, op)
    parts = Parts(Obj())
    parts.problems += _one_value_each(c, op)
    parts.obj.add("type", pl.lit(op.type))
    sections.identity(c, op, parts)
    if op.device is not None:
        sections.device(c, op, parts)
    sections.event(c, op, parts)
    sections.attributes(c, op, parts)
    relationships = sections.relationships(c, op, parts) if op.relationships else None
    applies = c.applies(op)
    if op.action in ("add_relationships", "delete_relationships") and \
            relationships is not None:
        applies = applies & relationships
    body = Body(parts.obj, c.prefix())
    mapping_reason = pl.when(applies).then(limits.first_reason(parts.mapping))
    limit_reason = pl.when(applies).then(limits.first_reason(parts.limits))
    return (CompiledOp(op, body, applies, mapping_reason, limit_reason, parts.placeholders,
                       parts.timestamp, shared=parts.shared, lists=parts.lists), parts.problems)


def _one_value_each(c: Compiler, op: Operation) -> list[str]:
    """A list column where one value is needed (an identifier, a name, a time) is a mapping
    problem; in a relationship, a list makes one relationship per element (`elements.py`)."""
    single = [("identifier", v) for _, v in op.identifiers]
    single += [(what, v) for what, v in (("name", op.name), ("timestamp", op.timestamp)) if v]
    return [f"{what}: column '{v.column}' is a list, where one value is needed (in a "
            "relationship, a list makes one relationship per element)"
            for what, v in single if v.column and isinstance(c.dtype(v.column), pl.List | pl.Array)]
