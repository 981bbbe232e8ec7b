"""The hand-written baseline, as a competent user would write it: csv.DictReader, a dict per
row, orjson.dumps, a greedy packer, httpx.Client posting each body.

usage: python bench/handwritten.py people.csv BASE_URL SITE KEY
"""

from __future__ import annotations

import csv
import sys
from datetime import datetime

import httpx
import orjson

LIMIT = 500_000


def to_ts(value: str) -> int | None:
    if not value:
        return None
    if value.isdigit():
        n = int(value)
        return n // 1000 if n >= 10**11 else n
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def operation(row: dict[str, str]) -> dict:
    """One row as a person identify, the way a user would write it by hand."""
    attrs = {k: v for k, v in {
        "email": row["email"], "name": row["name"], "plan": row["plan"],
        "seats": int(row["seats"]) if row["seats"] else None,
        "score": float(row["score"]) if row["score"] else None,
        "created_at": to_ts(row["signup_at"]),
        "vip": row["vip"] == "true", "zip": row["zip"], "notes": row["notes"],
    }.items() if v not in (None, "")}
    op = {"type": "person", "identifiers": {"id": row["user_id"]}, "action": "identify",
          "attributes": attrs}
    ts = to_ts(row["updated_at"])
    if ts is not None:
        op["timestamp"] = ts
    return op


def main() -> None:
    path, base, site, key = sys.argv[1:5]
    client = httpx.Client(base_url=base, auth=(site, key), timeout=30)
    batch: list[bytes] = []
    size = len(b'{"batch":[]}')
    sent = rows = 0

    def flush() -> None:
        nonlocal batch, size, sent
        if batch:
            body = b'{"batch":[' + b",".join(batch) + b"]}"
            r = client.post("/api/v2/batch", content=body,
                            headers={"content-type": "application/json"})
            r.raise_for_status()
            sent += 1
        batch, size = [], len(b'{"batch":[]}')

    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rows += 1
            text = orjson.dumps(operation(row))
            if size + len(text) + (1 if batch else 0) > LIMIT:
                flush()
            size += len(text) + (1 if batch else 0)
            batch.append(text)
    flush()
    print(rows, sent)


if __name__ == "__main__":
    main()
