"""What a command works on: the mapping and its sources, every source's columns (and, where
they are known, their types, for paths into nested values) checked against the mapping before
any data is mapped."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from backfill.contract import Source
from backfill.errors import MappingError
from backfill.mapping.config import Mapping, check_columns
from backfill.sources import files
from backfill.sources.files import Input, InputReader


@dataclass
class Plan:
    """What a command works on: the mapping and its sources, columns checked."""

    mapping: Mapping
    sources: list[Source]
    checked: list[bool] = field(default_factory=list)  # per source: columns known and checked
    warnings: list[str] = field(default_factory=list)  # said in each reading's report
    # the first source's reader that found its columns, read on by the first reading (an
    # NDJSON block's type inference, which is costly, is then done once, not twice)
    readers: dict[int, InputReader] = field(default_factory=dict)
    block_bytes: int = field(default_factory=lambda: files.BLOCK_BYTES)  # of a file's blocks

    @property
    def unit(self) -> str:
        return self.sources[0].unit if self.sources else "B"

    def size(self) -> int:
        return sum(s.size() for s in self.sources)


def make_plan(mapping: Mapping, sources: list[Source], warnings: list[str] | None = None
              ) -> Plan:
    """Check every source's columns against the mapping before any data is mapped."""
    problems, checked, readers = [], [], {}
    block = files.REQUEST_A_ROW_BLOCK_BYTES if any(op.type == "form" for op in mapping.operations) \
        else files.BLOCK_BYTES
    for i, source in enumerate(sources):
        schema = None
        if i == 0 and isinstance(source, Input):
            columns, reader = source.opened(mapping.source.csv, block)
            if reader is not None:
                readers[0], schema = reader, reader.schema
            elif source.format == "csv" and columns:  # a CSV's values are text
                schema = dict.fromkeys(columns, pl.String)
        else:
            columns = source.columns(mapping.source.csv)
            frame = getattr(source, "frame", None)  # a DataFrame's types are known
            schema = dict(frame.schema) if isinstance(frame, pl.DataFrame) else None
        checked.append(columns is not None)
        if columns:
            problems += check_columns(mapping, columns, source.name, schema)
    if problems:
        raise MappingError(mapping.path, _unique(problems))
    return Plan(mapping, sources, checked, warnings or [], readers, block)


def _unique(items: list) -> list:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
