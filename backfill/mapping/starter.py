"""`backfill init`: a starter mapping from an input's columns and a sample of its rows. Pure.

It picks the identifier column, proposes `as:` where a column is clearly numbers, booleans,
timestamps or JSON, and keeps code-like columns (zip codes, phone numbers, ids with leading
zeros) as strings. The text it prints loads as is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import polars as pl

from backfill.mapping.convert import FALSE, TRUE, convert
from backfill.mapping.model import TimeFormat
from backfill.mapping.schema import PATH as SCHEMA

PERSON_IDS = ("id", "user_id", "customer_id", "person_id", "userid", "uid", "external_id",
              "contact_id", "member_id")
OBJECT_IDS = ("object_id", "company_id", "account_id", "organization_id", "org_id", "id")
EVENT_NAMES = ("event", "event_name", "name", "event_type", "type", "action")
EVENT_TIMES = ("timestamp", "occurred_at", "event_time", "time", "created_at", "date", "ts")
UPDATED = ("updated_at", "modified_at", "last_updated", "updated")
CODE_LIKE = re.compile(r"(zip|postal|postcode|phone|mobile|tel|code|sku|iban|account|id)$|^id_",
                       re.I)
TIME_LIKE = re.compile(r"(_at|_on|date|time|_ts|timestamp)$", re.I)
MOSTLY = 0.98  # share of a sample that decides a column's type
SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Guess:
    column: str
    as_: str | None
    sample: str
    why: str
    day_first: bool | None = None  # dates like 03/04/2024: which reading the sample showed


SLASHED = r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{4}"


def _typed(dtype: pl.DataType) -> str:
    """A file's own type, in the mapping's words."""
    if isinstance(dtype, pl.Struct):
        keys = ", ".join(f.name for f in dtype.fields[:6])
        return f"an object in the file ({keys}{', ...' if len(dtype.fields) > 6 else ''})"
    if isinstance(dtype, pl.List | pl.Array):
        return "a list in the file"
    if dtype.is_integer():
        return "whole numbers in the file"
    if dtype.is_float() or dtype.is_decimal():
        return "decimal numbers in the file"
    if dtype == pl.Boolean:
        return "true/false in the file"
    return "typed values in the file"


def _quote(name: str) -> str:
    return name if SIMPLE_KEY.match(name) and name not in ("true", "false", "null", "yes",
                                                           "no", "on", "off") else json.dumps(name)


def _pick(columns: list[str], preferred: tuple[str, ...]) -> str | None:
    lowered = {c.lower(): c for c in columns}
    for name in preferred:
        if name in lowered:
            return lowered[name]
    return None


def guess(column: str, values: pl.Series) -> Guess:
    """The conversion a column's sample supports, and why."""
    present = values.drop_nulls()
    if present.dtype == pl.String:
        present = present.filter(present.str.strip_chars() != "")
    first = None if present.is_empty() else present.head(1).to_list()[0]
    if isinstance(first, dict | list):
        first = json.dumps(first, ensure_ascii=False, default=str)
    sample = "" if first is None else str(first)[:40]
    if present.is_empty():
        return Guess(column, None, sample, "empty in the sample")
    if present.dtype != pl.String:
        if isinstance(present.dtype, pl.Datetime | pl.Date):
            return Guess(column, "timestamp", sample, "a date column")
        return Guess(column, None, sample, f"{_typed(present.dtype)}: sent as is")
    text = present.str.strip_chars()

    def share(ok: pl.Series) -> float:
        """How much of the sample fits; a stray bad value should be rejected, not decide."""
        return float(ok.mean() or 0.0)

    lowered = text.str.to_lowercase()
    if share(lowered.is_in([*TRUE, *FALSE])) >= MOSTLY and not text.str.contains(r"^\d+$").all():
        return Guess(column, "bool", sample, "true/false values")
    integers = text.str.contains(r"^-?\d+$")
    if share(integers) >= MOSTLY:
        if text.str.contains(r"^-?0\d").any() or CODE_LIKE.search(column):
            return Guess(column, None, sample, "a code: kept as a string")
        if TIME_LIKE.search(column) and share(text.str.len_chars().is_in([10, 13])) >= MOSTLY:
            return Guess(column, "timestamp", sample, "epoch seconds or milliseconds")
        return Guess(column, "int", sample, "whole numbers")
    if share(text.str.contains(r"^-?\d+(\.\d+)?$")) >= MOSTLY and not CODE_LIKE.search(column):
        return Guess(column, "float", sample, "decimal numbers")
    when = _timestamps(text, share)
    if when is not None:
        return Guess(column, "timestamp", sample, when[0], when[1])
    if share(text.str.contains(r"^\s*[\[{]")) >= MOSTLY:
        return Guess(column, "json", sample, "JSON text")
    return Guess(column, None, sample, "text")


def _timestamps(text: pl.Series, share) -> tuple[str, bool | None] | None:
    """(why, day_first) when `as: timestamp` reads the sample: ISO, epoch and month names
    mixed, or day/month dates whose order the sample shows (a day above 12)."""
    parts = text.str.extract_groups(SLASHED)
    first, second = (parts.struct.field(n).cast(pl.Int32, strict=False) for n in ("1", "2"))
    day_first = True if (first > 12).any() else False if (second > 12).any() else None
    if day_first is None and first.is_not_null().any():
        day_first = False  # the sample cannot tell: month first, said in the comment
    _, failed = convert(pl.col("v"), pl.String, "timestamp", TimeFormat(day_first=day_first))
    read = ~pl.DataFrame({"v": text}).select(failed).to_series()
    if share(read) < MOSTLY or share(text.str.contains(r"^-?\d+$")) >= MOSTLY:
        return None
    if not first.is_not_null().any():
        return "dates and times", None
    why = "day/month dates (a day above 12 seen)" if day_first else \
        "month/day dates (a day above 12 seen)" if (second > 12).any() else \
        "month/day dates? the sample cannot tell: check, or say day_first: true"
    return why, day_first


def _value(g: Guess) -> str:
    if g.as_ is None:
        return _quote(g.column)
    order = "" if g.day_first is None else f", day_first: {str(g.day_first).lower()}"
    return f"{{column: {_quote(g.column)}, as: {g.as_}{order}}}"


def starter_mapping(path: str, fmt: str, columns: list[str], sample: pl.DataFrame,
                    kind: str = "person", source: list[str] | tuple[str, ...] = ()) -> str:
    """A commented mapping for these columns, as YAML text."""
    guesses = {c: guess(c, sample.get_column(c)) if c in sample.columns else
               Guess(c, None, "", "not in the sample") for c in columns}
    lines = [
        f"# yaml-language-server: $schema={SCHEMA}",
        f"# A starter mapping for {path}, written by `backfill init` from its columns and a",
        "# sample of its rows. Check the choices, then: backfill validate THIS_FILE",
        "version: 1",
        "source:",
        f"  path: {json.dumps(path)}",
        f"  format: {fmt}",
        *source,  # how the file was read: csv options init found it needs
        "operations:",
    ]
    used: set[str] = set()
    if kind == "object":
        oid = _pick(columns, OBJECT_IDS) or columns[0]
        used.add(oid)
        lines += ["  - type: object", "    action: identify",
                  "    # object_type_id: the object type's number in your workspace (1 = the first",
                  "    # type you created); object_id: this file's column that names each object",
                  f"    identifiers: {{object_type_id: {{value: \"1\"}}, object_id: {_quote(oid)}}}"]
    elif kind == "event":
        uid = _pick(columns, PERSON_IDS) or _pick(columns, ("email",)) or columns[0]
        name = _pick([c for c in columns if c != uid], EVENT_NAMES)
        when = _pick([c for c in columns if c not in (uid, name)], EVENT_TIMES)
        used.update(c for c in (uid, name, when) if c)
        lines += ["  - type: person", "    action: event",
                  f"    identifiers: {{{_id_key(uid)}: {_quote(uid)}}}"]
        lines.append(f"    name: {_quote(name)}" if name else
                     "    name: {value: imported_event}   # no event-name column found")
        if when:
            lines.append(f"    timestamp: {_quote(when)}          # {guesses[when].why}")
        lines.append("    dedupe_id: auto                   # replays are deduplicated")
    else:
        uid = _pick(columns, PERSON_IDS) or _pick(columns, ("email",)) or columns[0]
        used.add(uid)
        lines += ["  - type: person", "    action: identify",
                  f"    identifiers: {{{_id_key(uid)}: {_quote(uid)}}}"
                  + ("   # add email: email to fall back on it where the id is empty"
                     if uid.lower() != "email" and _pick(columns, ("email",)) else "")]
        updated = _pick([c for c in columns if c != uid], UPDATED)
        if updated and guesses[updated].as_ in ("timestamp", "int") or (
                updated and guesses[updated].as_ is None and guesses[updated].sample):
            used.add(updated)
            lines.append(f"    timestamp: {_quote(updated)}    # orders close updates to a person")
    attrs = [c for c in columns if c not in used]
    if attrs:
        lines.append("    attributes:")
        for c in attrs:
            g = guesses[c]
            if len(c.encode()) > 150:
                lines.append(f"      # {c[:40]}...: name over 150 bytes, left out")
                continue
            shown = f" e.g. {json.dumps(g.sample, ensure_ascii=False)}" if g.sample else ""
            lines.append(f"      {_quote(c)}: {_value(g)}   # {g.why}{shown}")
    lines.append("    nulls: skip                       # empty cells are not sent")
    return "\n".join(lines) + "\n"


def _id_key(column: str) -> str:
    return "email" if column.lower() == "email" else "id"
