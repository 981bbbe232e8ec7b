"""What a run says of events that can trigger campaigns in Customer.io: those of the last 72
hours, those dated in the future (a wrong time zone or unit, often), and those without a time,
which the API stamps now; and what `recent_events` does with them. Pure."""

from __future__ import annotations

DONE = {"send": "they are sent: set recent_events: skip (or reject) in the mapping to hold "
                "them back",
        "skip": "they are not sent (recent_events: skip)",
        "reject": "they are rejected (recent_events: reject)"}


def campaign_words(recent: int, future: int, untimed: int, policy: str,
                   first: bool = False) -> str | None:
    """One sentence of the counts (`recent` includes the other two), or None when there are
    none; `first`: of the rows read so far, said before the first request."""
    if not recent:
        return None
    kinds = [f"{n:,} {what}" for n, what in (
        (recent - future - untimed, "from the last 72 hours"), (future, "dated in the future"),
        (untimed, "without a time (sent as now)")) if n]
    events = "event" if recent == 1 else "events"
    where = " in the first rows read" if first else ""
    return f"{recent:,} {events}{where} can trigger campaigns ({', '.join(kinds)}): " \
           f"{DONE[policy]}"
