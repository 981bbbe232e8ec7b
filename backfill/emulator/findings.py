"""What looks wrong in the rehearsal workspace, which no import tool shows: SQL over
`workspace.py`'s tables, each finding with a count and examples (people's ids or emails).

- attribute names that differ only by case (Customer.io keeps `Plan` and `plan` apart);
- attributes whose JSON type differs between people (a number here, text there: segment
  conditions break);
- times that look like milliseconds (past the year 5138 as seconds), or land before 1970 or
  after 2100 (events' timestamps, and attributes named like times: `*_at`, `*date*`,
  `*time*`);
- `email` attributes that are not emails;
- events from the last 72 hours (they can trigger campaigns);
- people with no attributes at all.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

EXAMPLES = 5
RECENT_S = 72 * 3600
AFTER_2100 = 4102444800
MILLIS = 100_000_000_000  # seconds past this are the year 5138: milliseconds, surely
WHO = "COALESCE(p.id, p.email, p.cio_id)"
TIME_NAMED = "(lower(a.key) LIKE '%\\_at' ESCAPE '\\' OR lower(a.key) LIKE '%date%' OR " \
             "lower(a.key) LIKE '%time%')"


def findings(db: sqlite3.Connection, now: float | None = None) -> dict[str, Any]:
    """Every finding, from one reading of every person's attributes into a table of this
    connection's own (`temp.found`): the names and types come from one count of it, and each
    finding reads only the rows it is about."""
    now = time.time() if now is None else now
    db.execute("CREATE TEMP TABLE IF NOT EXISTS found (pk INTEGER, key TEXT, type TEXT, value)")
    db.execute("DELETE FROM temp.found")
    db.execute("INSERT INTO temp.found SELECT p.pk, a.key, a.type, a.value "
               "FROM ws_people p, json_each(p.attributes) a")
    try:
        kinds: dict[str, set[str]] = {}
        for key, kind in db.execute(f"SELECT DISTINCT key, {_kind('type')} FROM temp.found"):
            kinds.setdefault(key, set()).add(kind)
        return _all(db, now, kinds)
    finally:
        db.execute("DELETE FROM temp.found")


def _all(db: sqlite3.Connection, now: float, kinds: dict[str, set[str]]) -> dict[str, Any]:
    by_case: dict[str, list[str]] = {}
    for key in kinds:
        by_case.setdefault(key.lower(), []).append(key)
    mixed = sorted(k for k, seen in kinds.items() if len(seen - {"null"}) > 1)
    attrs = "temp.found a JOIN ws_people p ON p.pk = a.pk"
    return {
        "attribute_names_differing_by_case": _grouped(db, [
            (lower, sorted(keys), keys, "") for lower, keys in sorted(by_case.items())
            if len(keys) > 1]),
        "attributes_of_mixed_types": _grouped(db, [
            (key, sorted(kinds[key] - {"null"}), [key], " AND a.type != 'null'")
            for key in mixed]),
        "times_out_of_range": _counted(db, f"""
            SELECT {WHO} FROM {attrs}
            WHERE {TIME_NAMED} AND a.type IN ('integer', 'real') AND
                  (a.value < 0 OR a.value BETWEEN {AFTER_2100} AND {MILLIS})
            UNION ALL SELECT {WHO} FROM ws_events e JOIN ws_people p ON p.pk = e.person
            WHERE e.timestamp < 0 OR e.timestamp BETWEEN {AFTER_2100} AND {MILLIS}"""),
        "times_in_milliseconds": _counted(db, f"""
            SELECT {WHO} FROM {attrs}
            WHERE {TIME_NAMED} AND a.type IN ('integer', 'real') AND a.value > {MILLIS}
            UNION ALL SELECT {WHO} FROM ws_events e JOIN ws_people p ON p.pk = e.person
            WHERE e.timestamp > {MILLIS}"""),
        "emails_that_are_not_emails": _counted(db, f"""
            SELECT {WHO} FROM {attrs}
            WHERE lower(a.key) = 'email' AND (a.type != 'text' OR a.value NOT GLOB '?*@?*.?*'
                                              OR a.value GLOB '* *')"""),
        "recent_events": _counted(db, f"""
            SELECT {WHO} FROM ws_events e JOIN ws_people p ON p.pk = e.person
            WHERE e.timestamp >= {int(now) - RECENT_S}"""),
        "people_without_attributes": _counted(db, f"""
            SELECT {WHO} FROM ws_people p WHERE p.attributes = '{{}}'"""),
    }


def _kind(column: str) -> str:
    """JSON's types by their JSON names (SQLite's integer and real are numbers, true and false
    booleans, text strings)."""
    return (f"CASE WHEN {column} IN ('integer', 'real') THEN 'number' "
            f"WHEN {column} IN ('true', 'false') THEN 'boolean' "
            f"WHEN {column} = 'text' THEN 'string' ELSE {column} END")


def _counted(db: sqlite3.Connection, sql: str) -> dict[str, Any]:
    count = int(db.execute(f"SELECT COUNT(*) FROM ({sql})").fetchone()[0])  # noqa: S608
    examples = [r[0] for r in db.execute(f"SELECT DISTINCT * FROM ({sql}) LIMIT {EXAMPLES}")]  # noqa: S608
    return {"count": count, "examples": examples}


def _grouped(db: sqlite3.Connection, groups: list[tuple[str, list[str], list[str], str]]
             ) -> dict[str, Any]:
    """Findings by attribute: each name, the variants or kinds seen, how many people, and the
    first examples; `groups` of (name, seen, the keys it covers, a condition on their rows)."""
    found = []
    for name, seen, keys, where in groups[:50]:
        marks = ",".join("?" * len(keys))
        (people,) = db.execute("SELECT COUNT(DISTINCT a.pk) FROM temp.found a WHERE a.key IN "  # noqa: S608
                               f"({marks}){where}", keys).fetchone()
        examples = [r[0] for r in db.execute(
            f"SELECT DISTINCT {WHO} FROM temp.found a JOIN ws_people p ON p.pk = a.pk WHERE "  # noqa: S608
            f"a.key IN ({marks}){where} ORDER BY 1 LIMIT {EXAMPLES}", keys)]
        found.append({"name": name, "seen": seen, "people": people, "examples": examples})
    return {"count": len(groups), "attributes": found}
