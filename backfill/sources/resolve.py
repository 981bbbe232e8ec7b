"""What the caller gave as a source -> the list of sources the flow reads, in order.

Paths and globs (a string, a path, or a list of them), `-` for stdin, a polars DataFrame or
LazyFrame, a pyarrow Table or RecordBatchReader, a pandas DataFrame, or any other iterable of
dicts. Nothing is read here but what a glob needs.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from typing import Any

import polars as pl

from backfill.contract import Source
from backfill.errors import InputError, UsageError
from backfill.sources import remote
from backfill.sources.files import Input
from backfill.sources.frames import FrameSource, LazySource, RecordsSource, from_arrow
from backfill.sources.sniff import compression_of, format_of
from backfill.storage import shown as redacted_url

PathLike = str | os.PathLike


def resolve(source: Any, declared_format: str | None = None,
            default_paths: Iterable[str] = (), database: dict | None = None) -> list[Source]:
    """The sources to read; when `source` is None, the mapping's: `database` (its url, query
    and resume_key) or `default_paths` (its source.path)."""
    if source is None or (isinstance(source, list | tuple) and not source):
        if database:
            source = database
        else:
            return list(resolve_inputs(list(default_paths), declared_format))
    if isinstance(source, dict) and "database" in source:
        return [_database(source)]
    if isinstance(source, PathLike):
        return list(resolve_inputs([os.fspath(source)], declared_format))
    if isinstance(source, list | tuple) and all(isinstance(s, PathLike) for s in source):
        return list(resolve_inputs([os.fspath(s) for s in source], declared_format))
    if isinstance(source, pl.DataFrame):
        return [FrameSource(source)]
    if isinstance(source, pl.LazyFrame):
        return [LazySource(source)]
    module = type(source).__module__.split(".")[0]
    if module == "pyarrow":
        return [from_arrow(source, "<Arrow Table>")]
    if module == "pandas" and hasattr(source, "columns"):
        return [FrameSource(pl.from_pandas(source), "<pandas DataFrame>")]
    if isinstance(source, dict | bytes | str):
        raise UsageError("source: a single dict or bytes is not a source; pass paths, a "
                         "DataFrame, a list (or generator) of dicts, or {'database': URL, "
                         "'query': SQL}")
    if isinstance(source, Iterable):
        return [RecordsSource(source)]
    raise UsageError(f"source: a {type(source).__name__} is not a source; pass paths or globs, "
                     "a polars DataFrame or LazyFrame, a pyarrow Table or RecordBatchReader, "
                     "or an iterable of dicts")


def _database(spec: dict) -> Source:
    from backfill.sources.database import DatabaseSource

    unknown = set(spec) - {"database", "query", "resume_key"}
    if unknown or not spec.get("query"):
        raise UsageError("source: a database is {'database': URL, 'query': SQL, 'resume_key': "
                         "[columns]} (resume_key optional)")
    key = spec.get("resume_key") or ()
    return DatabaseSource(spec["database"], spec["query"],
                          (key,) if isinstance(key, str) else tuple(key))


def resolve_inputs(patterns: list[str], declared_format: str | None) -> list[Input]:
    """Expand globs (sorted, deduplicated); every pattern must match at least one file."""
    if not patterns:
        raise InputError("<inputs>", "no input: give files on the command line or "
                                     "source.path in the mapping")
    inputs: list[Input] = []
    seen: set[str] = set()
    for pattern in patterns:
        if pattern == "-":
            fmt = declared_format or "csv"
            inputs.append(Input("-", fmt, None))
            continue
        if remote.is_url(pattern):
            matches = remote.expand(pattern)
        else:
            matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            matches = [m for m in matches if os.path.isfile(m)] or (
                [] if glob.has_magic(pattern) else matches)
        if not matches:
            raise InputError(redacted_url(pattern), "no file matches this pattern")
        for path in matches:
            if path in seen:
                continue
            seen.add(path)
            if not remote.is_url(path) and not os.path.exists(path):
                raise InputError(path, "no such file")
            if not remote.is_url(path) and os.path.isdir(path):
                raise InputError(path, "is a folder; give files or a glob such as "
                                       f"'{path.rstrip('/')}/*.csv'")
            fmt = format_of(path, declared_format)
            if fmt is None:
                raise InputError(redacted_url(path), "unknown format: name it .csv, .ndjson, .jsonl or "
                                       ".parquet (optionally .gz/.zst), or set source.format")
            inputs.append(Input(path, fmt, compression_of(path)[1]))
    return inputs
