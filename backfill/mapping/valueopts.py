"""What a value may say beside `column:` and `as:`: how a timestamp is written (`format:`,
`day_first:`, `timezone:`), how a number is (`thousands:`, `decimal:`, `currency:`), and which
texts mean "empty" (`null_values:`, also under `source:`). Pure: problems go to the
`problem(line, message)` callback."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from backfill.mapping.model import NumberFormat, TimeFormat

TIME_KEYS = ("format", "day_first", "timezone")
NUMBER_KEYS = ("thousands", "decimal", "currency")
VALUE_KEYS = (*TIME_KEYS, *NUMBER_KEYS, "null_values")
SEPARATORS = (",", ".", " ", "'", "_", "\u00a0", "\u202f")  # a thin or no-break space too
Report = Callable[[int, str], None]


def time_format(node: CommentedMap, as_: str | None, where: str, line_of: Callable[..., int],
                problem: Report) -> TimeFormat | None:
    """`format`, `day_first` and `timezone` of a value; they need `as: timestamp`."""
    given = [key for key in TIME_KEYS if key in node]
    if not given:
        return None
    line = line_of(node, given[0])
    if as_ != "timestamp":
        problem(line, f"{where}: '{given[0]}' reads timestamps: add 'as: timestamp'")
        return None
    raw = node.get("format", [])
    formats = (raw,) if isinstance(raw, str) else tuple(raw) \
        if isinstance(raw, CommentedSeq | list) and all(isinstance(f, str) for f in raw) else None
    if formats is None or any("%" not in f for f in formats):
        problem(line_of(node, "format"), f"{where}: 'format' must be a strftime pattern such as "
                                         "'%m/%d/%Y' or '%d %b %Y', or a list of them")
        formats = ()
    day_first = node.get("day_first")
    if day_first is not None and not isinstance(day_first, bool):
        problem(line_of(node, "day_first"), f"{where}: 'day_first' must be true (03/04/2024 is "
                                            "3 April) or false (it is March 4)")
        day_first = None
    zone = node.get("timezone")
    if zone is not None and not _known_zone(zone):
        problem(line_of(node, "timezone"), f"{where}: 'timezone: {zone}' is not a time zone "
                                           "name (UTC, Europe/Paris, America/New_York ...)")
        zone = None
    return TimeFormat(formats, day_first, zone)


def number_format(node: CommentedMap, as_: str | None, where: str,
                  line_of: Callable[..., int], problem: Report) -> NumberFormat | None:
    """`thousands`, `decimal` and `currency` of a value; they need `as: int` or `as: float`."""
    given = [key for key in NUMBER_KEYS if key in node]
    if not given:
        return None
    if as_ not in ("int", "float"):
        problem(line_of(node, given[0]), f"{where}: '{given[0]}' reads numbers: add 'as: float' "
                                         "(or 'as: int')")
        return None
    thousands, decimal = node.get("thousands"), node.get("decimal", ".")
    if thousands is not None and thousands not in SEPARATORS:
        problem(line_of(node, "thousands"), f"{where}: 'thousands' is the digit-group separator,"
                                            " one of ',' '.' ' ' \"'\" '_' (quote it in YAML)")
        thousands = None
    if decimal not in (".", ","):
        problem(line_of(node, "decimal"), f"{where}: 'decimal' is '.' or ',' (quote it in YAML)")
        decimal = "."
    if thousands is not None and thousands == decimal:
        problem(line_of(node, "thousands"), f"{where}: 'thousands' and 'decimal' are both "
                                            f"{decimal!r}: a number could be read two ways")
        thousands = None
    currency = node.get("currency", False)
    if not isinstance(currency, bool):
        problem(line_of(node, "currency"), f"{where}: 'currency' is true (a sign or code such as "
                                           "$ or USD is dropped) or false")
        currency = False
    return NumberFormat(thousands, str(decimal), currency)


def null_values(raw: Any, line: int, where: str, problem: Report) -> tuple[str, ...]:
    """`null_values: ["N/A", "-"]`: texts read as empty (compared without surrounding spaces)."""
    if raw is None:
        return ()
    texts = [raw] if isinstance(raw, str) else raw if isinstance(raw, CommentedSeq | list) \
        else None
    if texts is None or not all(isinstance(t, str | int | float) and not isinstance(t, bool)
                                for t in texts):
        problem(line, f"{where}: 'null_values' must be a text or a list of texts read as empty, "
                      "such as ['N/A', '-', 'NULL'] (quote them in YAML)")
        return ()
    return tuple(str(t).strip() for t in texts)


def _known_zone(name: Any) -> bool:
    if not isinstance(name, str) or not name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
