"""Where the CPU goes: each stage of `validate` run alone, in this one thread, block by block.

usage: .venv/bin/python bench/stages.py MAPPING INPUT [--repeat 3]

Prints CPU-seconds per 1M rows for parsing, mapping (and, inside it, the event ids) and packing
(cutting and building the bodies), the least of `--repeat` passes. The command itself runs these
in a pool of threads (`flow.py`); this is the work each does, not the time they take together.
Run it with the command's settings: `POLARS_MAX_THREADS=1` (as `tuning.tune_polars` sets).
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # before polars loads, as the command does

from backfill import api  # noqa: E402
from backfill.contract import offset  # noqa: E402
from backfill.delivery.packer import Packer  # noqa: E402
from backfill.mapping import encode  # noqa: E402
from backfill.mapping.encode import Encoder  # noqa: E402


def timed(spent: Counter, stage: str, work: Callable[..., Any], *args: Any) -> Any:
    started = time.process_time()
    try:
        return work(*args)
    finally:
        spent[stage] += time.process_time() - started


def one_pass(mapping: str, path: str) -> tuple[Counter, int]:
    plan = api.plan(mapping, path)
    encoder, packer, spent, rows = Encoder(plan.mapping), Packer(), Counter(), 0
    ids = encode.ulids
    encode.ulids = lambda *a: timed(spent, "  of which event ids", ids, *a)
    try:
        for source in plan.sources:
            reader = source.open(plan.mapping.source.csv)
            if hasattr(reader, "read_only") and not any(op.rest for op in plan.mapping.operations):
                reader.read_only(list(plan.mapping.columns_used()))
            at = (reader.first_row, reader.first_line)
            for task, _ in reader.tasks():
                parsed = offset(timed(spent, "parse", task), *at)
                at = (at[0] + parsed.records, at[1] + parsed.lines)
                rows += parsed.records
                if parsed.frame.height:
                    chunk = timed(spent, "map", encoder.encode, parsed.frame, source.name)
                    cut = timed(spent, "pack: cut", packer.cut, chunk.ops, 0)
                    timed(spent, "pack: bodies", cut.assemble, True)
            reader.close()
    finally:
        encode.ulids = ids
    return spent, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mapping")
    ap.add_argument("input")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    passes = [one_pass(args.mapping, args.input) for _ in range(max(1, args.repeat))]
    rows = passes[0][1]
    order = ["parse", "map", "  of which event ids", "pack: cut", "pack: bodies"]
    stages = [s for s in order if s in passes[0][0]]
    print(f"{rows:,} rows; CPU-s per 1M rows, the least of {len(passes)} passes")
    total = 0.0
    for stage in stages:
        least = min(p[stage] for p, _ in passes) * 1e6 / rows
        total += 0 if stage.startswith(" ") else least
        print(f"| {stage} | {least:.2f} |")
    print(f"| all | {total:.2f} |")


if __name__ == "__main__":
    main()
