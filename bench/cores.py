"""What a bigger machine would give: the CPU of each thread of one `backfill validate`, read
from /proc while it runs, and Amdahl's projection for 4, 8 and 16 cores.

The flow's calling thread takes the blocks in order (reads and cuts the input, numbers the
rows, cuts the bodies): that work cannot spread, whatever the cores; the map threads, polars'
pool and its executor can. The wall time on n cores is at least the larger of the ordered
thread's CPU and the total CPU over n (plus the start).

usage: python bench/cores.py MAPPING INPUT
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def threads(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of `pid`, by thread id and name."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[f"{task.name}:{name}"] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def main() -> None:
    mapping, data = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "backfill", "validate", mapping, data,
                             "--quiet", "--rejects", os.devnull], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last: dict[str, float] = {}
    while proc.poll() is None:
        try:
            last.update(threads(proc.pid))
        except OSError:
            break
        time.sleep(0.02)
    wall = time.perf_counter() - started
    by_kind: dict[str, float] = defaultdict(float)
    main_tid = str(proc.pid)
    for key, seconds in last.items():
        tid, name = key.split(":", 1)
        # Python's threads are all named "python" by the OS: in `validate` the map threads
        kind = "ordered (main)" if tid == main_tid else \
            "map threads" if name in ("python",) or name.startswith("map") else \
            "polars' executor" if name.startswith("async-exec") else \
            "polars' pool" if name.startswith("polars-") else f"other ({name})"
        by_kind[kind] += seconds
    total = sum(by_kind.values())
    serial = by_kind["ordered (main)"]
    start = 0.4  # the command's start-up, measured alone (import, plan)
    projection = {n: round(start + max(serial, total / n), 2) for n in (2, 4, 8, 16)}
    print(json.dumps({"wall_s": round(wall, 2), "cpu_s": round(total, 2),
                      "by_thread": {k: round(v, 2) for k, v in sorted(by_kind.items())},
                      "ordered_share": round(serial / total, 3) if total else None,
                      "projected_wall_s": projection}, indent=1))


if __name__ == "__main__":
    main()
