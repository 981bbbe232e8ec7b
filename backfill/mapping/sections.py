"""The sections of a v2 operation, each adding its JSON members and reject reasons to the
operation being assembled (`compile.Parts`), in the order the members are sent. Pure.

To add a member to an operation: a section here (or a line in one), its mapping key in
`config.py`, and its row in the schema table (`schema.py`).
"""

from __future__ import annotations

import polars as pl

from backfill.mapping import limits
from backfill.mapping.compile import Compiler, Parts
from backfill.mapping.config import DELIVERY_EVENTS, PLATFORMS, Operation
from backfill.mapping.elements import per_element
from backfill.mapping.jsonbody import EMPTY_AS_OBJECT, Obj, cleaned

ULID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"


def identity(c: Compiler, op: Operation, parts: Parts) -> None:
    """`identifiers` and `action` (merge: `action`, `primary`, `secondary`)."""
    if op.action == "merge":
        parts.obj.add("action", pl.lit(op.action))
        for key, fields in (("primary", op.primary), ("secondary", op.secondary)):
            ids, present, id_limits, missing = c.identifiers(fields, "person", f"{key} ")
            parts.obj.add(key, ids)
            parts.mapping.append(pl.when(~present).then(missing))
            parts.limits += id_limits
        return
    kind = "object" if op.type == "object" else "person"
    ids, present, id_limits, missing = c.identifiers(op.identifiers, kind, "")
    parts.obj.add("identifiers", ids)
    parts.obj.add("action", pl.lit(op.action))
    parts.mapping.append(pl.when(~present).then(missing))
    parts.limits += id_limits


def device(c: Compiler, op: Operation, parts: Parts) -> None:
    """device: {token, platform, last_used, attributes} (delete_device: token only)."""
    d = op.device
    assert d is not None
    token = c.value(d.token, True, "device.token:")
    token_expr = token.expr.cast(pl.String)
    parts.mapping += token.failures
    parts.mapping.append(pl.when(token_expr.is_null()).then(
        pl.lit(f"device token ({d.token.label}) is empty")))
    obj = Obj()
    obj.add("token", token_expr)
    if d.platform is not None:
        platform = c.value(d.platform, True, "device.platform:").expr.cast(pl.String)
        lowered = platform.str.to_lowercase()
        parts.mapping.append(pl.when(~lowered.is_in(PLATFORMS) | lowered.is_null()).then(
            pl.format("device platform \"{}\" is not ios or android",
                      platform.fill_null("").str.head(40))))
        obj.add("platform", lowered, droppable=True)
    if d.last_used is not None:
        last_used = c.value(d.last_used, True, "device.last_used:")
        parts.mapping += last_used.failures
        obj.add("last_used", last_used.expr, droppable=True)
    if d.attributes:
        attributes = Obj()
        for n, v in d.attributes:
            f = c.value(v, True, f"device attribute '{n}':")
            parts.mapping += f.failures
            if f.size is not None:
                parts.limits.append(limits.value_too_long(n, f.size, "device attribute"))
            attributes.add(n, f.expr, droppable=True)
        obj.add("attributes", attributes, droppable=True)
    parts.obj.add("device", obj)


def event(c: Compiler, op: Operation, parts: Parts) -> None:
    """`id` (dedupe_id from a column; `auto` ids are added after encoding), `name`, and
    `timestamp` (not on object identify), which also seeds an `auto` id."""
    if op.dedupe_id == "column" and op.dedupe_column:
        raw = c.column(op.dedupe_column).cast(pl.String)
        dedupe = pl.when(raw.str.strip_chars() != "").then(raw.str.strip_chars())
        parts.mapping.append(pl.when(dedupe.is_not_null()
                                     & ~dedupe.str.contains(ULID_PATTERN)).then(
            pl.format("dedupe_id column '{}' value \"{}\" is not a ULID",
                      pl.lit(op.dedupe_column), dedupe.str.head(60))))
        parts.obj.add("id", dedupe, droppable=True)
    if op.name is not None:
        _name(c, op, parts)
    if op.timestamp is not None and (op.type == "person" or op.action != "identify"):
        ts = c.value(op.timestamp, True, "timestamp:")
        parts.mapping += ts.failures
        parts.obj.add("timestamp", ts.expr, droppable=True)
        parts.timestamp = ts.expr


def _name(c: Compiler, op: Operation, parts: Parts) -> None:
    assert op.name is not None
    name = c.value(op.name, True, "event name:")
    name_expr = name.expr if op.name.column is None or \
        c.dtype(op.name.column) == pl.String else name.expr.cast(pl.String)
    parts.mapping += name.failures
    label = f"column '{op.name.column}'" if op.name.column else "the literal"
    parts.mapping.append(pl.when(name_expr.is_null()).then(
        pl.lit(f"event name ({label}) is empty")))
    parts.limits.append(limits.event_name_too_long(name_expr))
    if op.type == "delivery":
        parts.mapping.append(pl.when(name_expr.is_not_null()
                                     & ~name_expr.is_in(DELIVERY_EVENTS)).then(
            pl.format("delivery event name \"{}\" is not one of {}", name_expr.str.head(60),
                      pl.lit(", ".join(DELIVERY_EVENTS)))))
    parts.obj.add("name", name_expr)


def attributes(c: Compiler, op: Operation, parts: Parts) -> None:
    """`attributes`: the mapped ones, then `rest`; nested values cleaned in their own text."""
    skip = op.nulls == "skip"
    attrs, problems = c.attributes(op, op.attributes, "attribute", op.rest)
    parts.problems += problems
    if not attrs:
        return
    obj = Obj()
    for name, f in attrs:
        parts.mapping += f.failures
        if f.size is not None:
            parts.limits.append(limits.value_too_long(name, f.size))
        if skip and f.nested_keys:  # a nested value whose own empty members go
            leaf = c.embed(name, cleaned(f.expr, set(f.nested_keys)), parts.placeholders,
                           parts.shared)
        else:
            leaf = c.placeheld(name, f, parts.placeholders)
        obj.add(name, leaf, droppable=skip)
    parts.obj.add("attributes", obj, droppable=True)
    if op.type == "delivery":
        token = dict(attrs)["device_token"].expr
        parts.mapping.append(pl.when(token.is_null()).then(
            pl.lit("attributes.device_token is empty; delivery events require it")))
    if len(attrs) > limits.MAX_ATTRIBUTES:
        count = pl.sum_horizontal([f.expr.is_not_null().cast(pl.Int32) for _, f in attrs])
        parts.limits.append(limits.too_many_attributes(count))


def relationships(c: Compiler, op: Operation, parts: Parts) -> pl.Expr:
    """`cio_relationships`: the non-empty relationships of a row, left out when none; returns
    where a row has some (add/delete_relationships apply only there).

    Each relationship is an object of its own, its empty members left out as in any body, put
    in a list after the query (`Compiler.listed`: cheaper than a list of structs cleaned by key
    name). A relationship attribute holding nested values with keys
    (NDJSON objects) keeps the list of structs, whose empty members go by key name."""
    skip = op.nulls == "skip"
    rels, objects = [], []
    keys: set[str] = set()  # keys whose empty values go from the relationships
    nested = False
    for i, rel in enumerate(op.relationships):
        other = "object" if op.type == "person" else "person"
        where = f"relationship {i}"
        listed = per_element(rel, c.schema, where, skip)
        if listed is not None:  # one relationship per element of a list column
            parts.problems += listed.problems
            parts.limits += listed.limits
            keys |= listed.keys | {"relationship_attributes"}
            nested = True
            rels.append(listed.expr)
            continue
        rids, rpresent, rlimits, _ = c.identifiers(rel.identifiers, other, where)
        parts.limits += [pl.when(rpresent).then(r) for r in rlimits]
        keys.update(m.key for m in rids.members if m.droppable)  # fallbacks
        members = [rids.expr().alias("identifiers")]
        obj = Obj()
        obj.add("identifiers", rids)
        if rel.attributes:
            fields, attributes = [], Obj()
            for n, v in rel.attributes:
                f = c.value(v, skip, f"{where} attribute '{n}':")
                parts.mapping += [pl.when(rpresent).then(r) for r in f.failures]
                if f.size is not None:
                    parts.limits.append(pl.when(rpresent).then(
                        limits.value_too_long(n, f.size, f"{where} attribute")))
                if skip:
                    keys.add(n)
                nested = nested or bool(f.nested_keys)
                fields.append(c.placeheld(n, f, parts.placeholders))
                attributes.add(n, fields[-1], droppable=skip)
            members.append(pl.struct(fields).alias("relationship_attributes"))
            obj.add("relationship_attributes", attributes, droppable=EMPTY_AS_OBJECT)
        rels.append(pl.when(rpresent).then(pl.struct(members)))
        objects.append((obj, rpresent))
    if keys and not nested:
        parts.obj.add("cio_relationships", c.listed("cio_relationships", objects, parts),
                      droppable=True)
        return pl.any_horizontal([present for _, present in objects])
    # not `list.drop_nulls`, which is slow on a list of structs
    rel_list = pl.concat_list(rels).list.filter(pl.element().is_not_null())
    # computed once: the checks, `applies` and the JSON all read it
    column = c.share(pl.when(rel_list.list.len() > 0).then(rel_list), parts.shared)
    parts.obj.add("cio_relationships", c.embed(
        "cio_relationships", cleaned(column, keys), parts.placeholders, parts.shared)
        if keys else column, droppable=True)
    return column.is_not_null()
