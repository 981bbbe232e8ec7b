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
    now = time.time() if now is None else now
    return {
        "attribute_names_differing_by_case": _grouped(db, f"""
            SELECT lower(a.key), group_concat(DISTINCT a.key), COUNT(DISTINCT p.pk),
                   group_concat(DISTINCT {WHO})
            FROM ws_people p, json_each(p.attributes) a GROUP BY lower(a.key)
            HAVING COUNT(DISTINCT a.key) > 1 ORDER BY 1"""),
        "attributes_of_mixed_types": _grouped(db, f"""
            SELECT a.key, group_concat(DISTINCT {_kind('a.type')}), COUNT(DISTINCT p.pk),
                   group_concat(DISTINCT {WHO})
            FROM ws_people p, json_each(p.attributes) a WHERE a.type != 'null' GROUP BY a.key
            HAVING COUNT(DISTINCT {_kind('a.type')}) > 1 ORDER BY 1"""),
        "times_out_of_range": _counted(db, f"""
            SELECT {WHO} FROM ws_people p, json_each(p.attributes) a
            WHERE {TIME_NAMED} AND a.type IN ('integer', 'real') AND
                  (a.value < 0 OR a.value BETWEEN {AFTER_2100} AND {MILLIS})
            UNION ALL SELECT {WHO} FROM ws_events e JOIN ws_people p ON p.pk = e.person
            WHERE e.timestamp < 0 OR e.timestamp BETWEEN {AFTER_2100} AND {MILLIS}"""),
        "times_in_milliseconds": _counted(db, f"""
            SELECT {WHO} FROM ws_people p, json_each(p.attributes) a
            WHERE {TIME_NAMED} AND a.type IN ('integer', 'real') AND a.value > {MILLIS}
            UNION ALL SELECT {WHO} FROM ws_events e JOIN ws_people p ON p.pk = e.person
            WHERE e.timestamp > {MILLIS}"""),
        "emails_that_are_not_emails": _counted(db, f"""
            SELECT {WHO} FROM ws_people p, json_each(p.attributes) a
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


def _grouped(db: sqlite3.Connection, sql: str) -> dict[str, Any]:
    """Findings by attribute: each name (or its variants), the kinds seen, and examples."""
    rows = db.execute(sql).fetchall()
    return {"count": len(rows), "attributes": [
        {"name": name, "seen": sorted(seen.split(",")), "people": people,
         "examples": sorted(who.split(","))[:EXAMPLES] if who else []}
        for name, seen, people, who in rows[:50]]}
