"""Settings that polars reads when it loads, which the command line sets before anything
imports it (the library does not: `import backfill` changes nothing in the process)."""

from __future__ import annotations

import os
import sys


def tune_polars() -> None:
    """Settings that polars reads when it loads; a value the user set is kept. The command line
    sets them; the library does not (`import backfill` changes nothing in the process).

    - polars' jemalloc keeps freed pages for 10 s by default; giving them back within 200 ms
      lowers the peak RSS of `validate` and `run`, at the same speed.
    - The flow runs its own threads, one a core; on 2 cores polars' own pool split each small
      operation over the cores again, for more CPU and no speed: one polars thread there,
      half the cores beyond (`polars_threads`; BENCHMARKS.md)."""
    if "polars" in sys.modules:
        return  # too late to matter
    os.environ.setdefault("_RJEM_MALLOC_CONF",
                          "dirty_decay_ms:200,muzzy_decay_ms:0,background_thread:true")
    os.environ.setdefault("POLARS_MAX_THREADS", str(polars_threads()))


def cores() -> int:
    """The cores this process may use (a container's share, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 2


def polars_threads() -> int:
    """polars' pool: 1 on 2 cores (the flow's threads keep them busy; a second is no faster,
    for more CPU), half the cores beyond, so that nothing fixed caps a bigger machine."""
    return 1 if cores() <= 2 else cores() // 2
