"""`backfill init`: a starter mapping from an input's columns and a sample of its rows. Pure.

It picks the identifier column (a path such as `customer.id` in a nested file), proposes `as:`
where a column is clearly numbers, booleans, timestamps or JSON, and never a conversion that
can corrupt data: code-like columns (zip codes, phone numbers with a leading `+`, ids with
leading zeros) stay strings, and a timestamp is proposed only where the sample's values are
times from 1990 to 2100. An event's time and name columns are mapped, or `timestamp: now`
written with a comment that says none was found. The text it prints loads as is.
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
PLAUSIBLE = (631152000, 4102444800)  # 1990-01-01 to 2100-01-01, Unix seconds
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
    if text.str.contains(r"^\+\d[\d\s().-]*$").any():  # a phone number: +15138741812
        return Guess(column, None, sample, "a code (a leading +): kept as a string")
    integers = text.str.contains(r"^-?\d+$")
    if share(integers) >= MOSTLY:
        if text.str.contains(r"^-?0\d").any() or CODE_LIKE.search(column):
            return Guess(column, None, sample, "a code: kept as a string")
        if TIME_LIKE.search(column) and share(text.str.len_chars().is_in([10, 13])) >= MOSTLY \
                and share(_plausible(text)) >= MOSTLY:
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
    if share(_plausible(text, TimeFormat(day_first=day_first))) < MOSTLY or \
            share(text.str.contains(r"^[+-]?\d+$")) >= MOSTLY:
        return None
    if not first.is_not_null().any():
        return "dates and times", None
    why = "day/month dates (a day above 12 seen)" if day_first else \
        "month/day dates (a day above 12 seen)" if (second > 12).any() else \
        "month/day dates? the sample cannot tell: check, or say day_first: true"
    return why, day_first


def _plausible(text: pl.Series, time: TimeFormat | None = None) -> pl.Series:
    """Whether each value reads as a time from 1990 to 2100 (a phone number read as epoch
    seconds is the year 2449; a count is 1970)."""
    value, _ = convert(pl.col("v"), pl.String, "timestamp", time or TimeFormat())
    seconds = pl.DataFrame({"v": text}).select(value).to_series()
    return seconds.is_between(PLAUSIBLE[0], PLAUSIBLE[1]).fill_null(False)


def _value(g: Guess, timestamp: bool = False) -> str:
    """A value's mapping; `timestamp`: an operation's own time (`as: timestamp` implied)."""
    order = "" if g.day_first is None else f", day_first: {str(g.day_first).lower()}"
    if g.as_ is None or (timestamp and not order):
        return _quote(g.column)
    return f"{{column: {_quote(g.column)}{'' if timestamp else f', as: {g.as_}'}{order}}}"


PERSON_PARENTS = ("customer", "user", "person", "contact", "member", "buyer", "profile")


def _person(columns: list[str], sample: pl.DataFrame) -> str:
    """The column (or path into an object: `customer.id`) that names each person."""
    top = _pick(columns, PERSON_IDS)
    if top is not None:
        return top
    for parent in (c for c in columns if c.lower() in PERSON_PARENTS and c in sample.columns):
        dtype = sample.schema[parent]
        if isinstance(dtype, pl.Struct):
            field = _pick([f.name for f in dtype.fields], (*PERSON_IDS, "email"))
            if field is not None:
                return f"{parent}.{field}"
    return _pick(columns, ("email",)) or columns[0]


def _checked(uid: str, columns: list[str]) -> str:
    """A comment when the person's column is only a guess."""
    if uid.lower() in PERSON_IDS or uid.lower() == "email" or "." in uid:
        return ""
    return "   # check: no person id column found (this is the first column)"


def _event_time(columns: list[str], guesses: dict[str, Guess]) -> str | None:
    """The column of the events' times: one named so whose sample reads as times, else any
    whose sample does."""
    times = [c for c in columns if guesses[c].as_ == "timestamp"]
    return _pick(times, EVENT_TIMES) or next((c for c in times if TIME_LIKE.search(c)), None) \
        or (times[0] if times else None)


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
        event, found = _event(columns, sample, guesses)
        lines += event
        used.update(found)
    else:
        uid = _person(columns, sample)
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



def _event(columns: list[str], sample: pl.DataFrame, guesses: dict[str, Guess]
           ) -> tuple[list[str], set[str]]:
    """A person event's lines: its person, name and time (or `timestamp: now`, said), and the
    columns they use."""
    uid = _person(columns, sample)
    name = _pick([c for c in columns if c != uid], EVENT_NAMES)
    when = _event_time([c for c in columns if c not in (uid, name)], guesses)
    lines = ["  - type: person", "    action: event",
             f"    identifiers: {{{_id_key(uid)}: {_quote(uid)}}}{_checked(uid, columns)}",
             f"    name: {_quote(name)}" if name else
             "    name: {value: imported_event}   # no event-name column found"]
    if when:
        lines.append(f"    timestamp: {_value(guesses[when], timestamp=True)}   "
                     f"# {guesses[when].why}")
    else:
        lines += ["    timestamp: now   # no column of times found: every event is sent as",
                  "    # happening now, and events of the last 72 hours can trigger campaigns;",
                  "    # map the time column if the file has one (see recent_events)"]
    lines.append("    dedupe_id: auto                   # replays are deduplicated")
    return lines, {c for c in (uid, name, when) if c}
