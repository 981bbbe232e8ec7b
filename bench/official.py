"""The official client `customerio` as its users call it: batch() with a few hundred operations
per call, against the emulator over https (a local certificate; REQUESTS_CA_BUNDLE points at it).

usage: python bench/official.py people.csv HOST PORT SITE KEY
"""

from __future__ import annotations

import csv
import sys

from customerio import CustomerIO
from handwritten import operation

PER_CALL = 300


def main() -> None:
    path, host, port, site, key = sys.argv[1:6]
    client = CustomerIO(site, key, host=host, port=int(port), retries=3)
    ops: list[dict] = []
    rows = calls = 0
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rows += 1
            ops.append(operation(row))
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
