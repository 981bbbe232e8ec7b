"""The official client `customerio` as its users call it: batch() with a few hundred operations
per call, against the emulator over https (a local certificate; REQUESTS_CA_BUNDLE points at it).

usage: python bench/official.py people.csv HOST PORT SITE KEY
"""

from __future__ import annotations

import csv
import sys

from customerio import CustomerIO
from handwritten import to_ts

PER_CALL = 300


def main() -> None:
    path, host, port, site, key = sys.argv[1:6]
    client = CustomerIO(site, key, host=host, port=int(port), retries=3)
    ops: list[dict] = []
    rows = calls = 0
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rows += 1
            attrs = {k: v for k, v in {
                "email": row["email"], "name": row["name"], "plan": row["plan"],
                "seats": int(row["seats"]) if row["seats"] else None,
                "score": float(row["score"]) if row["score"] else None,
                "created_at": to_ts(row["signup_at"]),
                "vip": row["vip"] == "true", "zip": row["zip"], "notes": row["notes"],
            }.items() if v not in (None, "")}
            ops.append({"type": "person", "identifiers": {"id": row["user_id"]},
                        "action": "identify", "attributes": attrs,
                        "timestamp": to_ts(row["updated_at"])})
            if len(ops) == PER_CALL:
                client.batch(ops)
                calls += 1
                ops = []
    if ops:
        client.batch(ops)
        calls += 1
    print(rows, calls)


if __name__ == "__main__":
    main()
