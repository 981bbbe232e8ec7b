"""Wires reader -> encoder/checker -> packer (and, for `run`, the sender). Orchestration only."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tqdm import tqdm

from backfill.config import Mapping, check_columns
from backfill.encode import Encoder
from backfill.errors import MappingError
from backfill.packer import Batch, Packer
from backfill.reader import Input, InputReader, resolve_inputs
from backfill.rejects import RejectsWriter
from backfill.report import Report


@dataclass
class Plan:
    """What a command works on: the mapping and the resolved inputs."""

    mapping: Mapping
    inputs: list[Input]


def make_plan(mapping: Mapping, patterns: list[str], fmt: str | None = None) -> Plan:
    """Resolve inputs and check every input's columns against the mapping before any data."""
    inputs = resolve_inputs(list(patterns) or list(mapping.source.paths),
                            fmt or mapping.source.format)
    problems = []
    for inp in inputs:
        if inp.path == "-":
            continue  # stdin can be read once only: its columns are checked as it is read
        reader = InputReader(inp, mapping.source.csv)
        try:
            if reader.columns:
                problems += check_columns(mapping, reader.columns, inp.name)
        finally:
            reader.close()
    if problems:
        raise MappingError(mapping.path, _unique(problems))
    return Plan(mapping, inputs)


def _unique(items: list) -> list:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def default_rejects_path(inputs: list[Input]) -> str:
    first = inputs[0]
    base = "stdin" if first.path == "-" else first.path
    return f"{base}.rejects.ndjson"


@contextmanager
def progress(total: int, quiet: bool, unit: str = "B") -> Iterator[tqdm]:
    disable = quiet or not sys.stderr.isatty()
    bar = tqdm(total=total or None, unit=unit, unit_scale=True, unit_divisor=1024,
               disable=disable, dynamic_ncols=True, desc="reading")
    try:
        yield bar
    finally:
        bar.close()


def batches(plan: Plan, report: Report, rejects: RejectsWriter,
            on_progress: Callable[[int], None] | None = None) -> Iterator[Batch]:
    """Read, map, check and pack every input; yield full bodies as they are ready."""
    encoder = Encoder(plan.mapping)
    packer = Packer()
    done_before = 0
    for index, inp in enumerate(plan.inputs):
        reader = InputReader(inp, plan.mapping.source.csv)
        report.warnings += reader.warnings
        if inp.path == "-" and reader.columns:
            problems = check_columns(plan.mapping, reader.columns, inp.name)
            if problems:
                raise MappingError(plan.mapping.path, problems)
        try:
            for chunk in reader.chunks():
                report.rows_read += chunk.records
                for r in chunk.rejects:
                    rejects.write(r)
                    report.add_reject(r)
                if chunk.frame.height:
                    encoded = encoder.encode(chunk.frame, inp.name)
                    for r in encoded.rejects:
                        rejects.write(r)
                        report.add_reject(r)
                    report.operations_by_type.update(encoded.op_counts)
                    yield from _counted(packer.add(encoded.ops, index), report)
                if on_progress:
                    on_progress(done_before + chunk.bytes_done)
        finally:
            reader.close()
        done_before += inp.size()
    yield from _counted(packer.flush(), report)


def _counted(items: list[Batch], report: Report) -> Iterator[Batch]:
    for batch in items:
        report.batches += 1
        report.bytes_packed += batch.size
        report.operations_packed += batch.operations
        yield batch


def validate(plan: Plan, rejects_path: str | None, dump: IO[bytes] | None = None,
             rate: float = 1000.0, quiet: bool = False) -> Report:
    """`backfill validate`: everything `run` does before sending; the bodies go to `dump`."""
    report = Report(mode="validate", rate=rate, rejects_path=rejects_path)
    started = time.monotonic()
    total = sum(i.size() for i in plan.inputs)
    with RejectsWriter(rejects_path) as rejects, progress(total, quiet) as bar:
        def moved(done: int) -> None:
            bar.update(done - bar.n)

        for batch in batches(plan, report, rejects, moved):
            if dump is not None:
                dump.write(batch.body + b"\n")
    report.elapsed_s = time.monotonic() - started
    report.exit_code = 1 if report.rows_rejected else 0
    if not report.rows_rejected and rejects_path and Path(rejects_path).exists():
        Path(rejects_path).unlink()  # a stale file from an earlier run would mislead
    return report

