"""backfill: import large CSV, NDJSON and Parquet files into Customer.io through its Track API.

    import backfill

    report = backfill.validate("configs/people.yaml", "people.csv")
    report = backfill.run(mapping, frame, site_id=..., api_key=...)
    report = await backfill.arun(mapping, frame, site_id=..., api_key=...)  # async code
    report.rows_read, report.rows_rejected, report.operations_delivered, report.exit_code

`validate` and `run` take a mapping (a path, YAML text or a dict) and a source (paths or globs,
a polars DataFrame or LazyFrame, a pyarrow Table or RecordBatchReader, or an iterable of dicts),
and return a `Report` (its fields are the JSON report's, `report.to_dict()`). `run`'s options
come as `sending=Sending(rate=..., retries=...)` and `nightly=Nightly("x.state", ...)`. Every
error is a `BackfillError`, with the exit code the command line uses: `UsageError` (and
`MappingError`), `InputError` (2); `Stopped` (3: the same call resumes), `Refused` (4: fix the
cause first), and the classes under them in `backfill.errors`.

Importing this package loads nothing heavy and changes nothing in the process or its environment:
the functions load polars when first used. (The command line, `backfill.cli.main`, tunes polars'
threads and allocator before it loads polars.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backfill import errors
from backfill._version import __version__
from backfill.errors import (
    BackfillError,
    InputError,
    Interrupted,
    MappingError,
    Refused,
    Stopped,
    UsageError,
)
from backfill.options import Nightly, Sending

__all__ = ["BackfillError", "InputError", "Interrupted", "MappingError", "Nightly", "Refused",
           "Reject", "Report", "Sending", "Stopped", "UsageError", "arun", "errors", "init",
           "load", "run", "validate", "__version__"]

if TYPE_CHECKING:
    from backfill.api import arun, init, load, run, validate
    from backfill.contract import Reject
    from backfill.runfiles.report import Report


def __getattr__(name: str) -> Any:
    if name in ("validate", "run", "arun", "load", "init"):
        from backfill import api

        return getattr(api, name)
    if name == "Report":
        from backfill.runfiles.report import Report

        return Report
    if name == "Reject":  # a line of the rejects file, as a dataclass
        from backfill.contract import Reject

        return Reject
    raise AttributeError(f"module 'backfill' has no attribute '{name}'")
