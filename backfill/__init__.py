"""backfill: import large CSV, NDJSON and Parquet files into Customer.io through its Track API."""

import os

__version__ = "0.1.0"

# polars allocates with jemalloc, which keeps freed pages for 10 s by default. Giving them back
# within 200 ms lowers the peak RSS of `validate` on 1M rows from about 317 MB to 285 MB (`run`:
# 392 -> 344 MB) at the same speed (BENCHMARKS.md). It must be set before polars loads; a value
# the user set is kept.
os.environ.setdefault("_RJEM_MALLOC_CONF",
                      "dirty_decay_ms:200,muzzy_decay_ms:0,background_thread:true")

# The pipeline runs its own threads, one a core (pipeline.ENCODERS), each calling polars on one
# chunk, so the cores are busy. polars' own pool split every small operation over
# the cores again, and the splitting cost more than it gave: with one polars thread, `validate`
# on 1M rows takes about 2.1 CPU-s instead of 2.4 on 2 cores and ends about 10% sooner
# (BENCHMARKS.md).
os.environ.setdefault("POLARS_MAX_THREADS", "1")
