"""`backfill init`: a starter mapping for a file's columns, from a sample of its rows (the
encoding and the delimiter found, said in the YAML's comments)."""

from __future__ import annotations

import json
from typing import Any

from backfill.errors import InputError, UsageError


def init(path: str, kind: str = "person", *, format: str | None = None,
         sample: int = 1000) -> str:
    """A starter mapping (YAML text) for a file's columns: `kind` person, object or event."""
    import polars as pl

    from backfill.contract import CsvOptions
    from backfill.mapping.starter import starter_mapping
    from backfill.sources.resolve import resolve_inputs

    [inp] = resolve_inputs([path], format)
    reader, first = _sample(inp, CsvOptions())
    found, why = {}, []
    if inp.format == "csv" and (reader is None or _mis_encoded(first)):
        reader, first = _sample(inp, CsvOptions(encoding="cp1252"))
        found["encoding"] = "cp1252"
        why.append("not UTF-8: read as Windows-1252 (check accents; or latin-1)")
    assert reader is not None
    if reader.options.delimiter != ",":
        found["delimiter"] = reader.options.delimiter
        why.append("the header's separator")
    notes = [f"  csv: {{{', '.join(f'{k}: {json.dumps(v)}' for k, v in found.items())}}}"
             f"   # {'; '.join(why)}"] if found else []
    if not reader.columns:
        raise UsageError(f"{inp.name}: no columns found (is the file empty?)")
    frame = first.frame.head(sample) if first is not None else \
        pl.DataFrame({c: [] for c in reader.columns})
    return starter_mapping(inp.path, inp.format, reader.columns, frame, kind, notes)


def _sample(inp: Any, options: Any) -> tuple[Any, Any]:
    """(reader, first chunk) of a file; (None, None) when its header is not in this
    encoding."""
    from backfill.sources.files import InputReader

    try:
        reader = InputReader(inp, options)
    except InputError as exc:
        if "encoding" in str(exc) and options.encoding == "utf8":
            return None, None
        raise
    try:
        return reader, next(iter(reader.chunks()), None)
    finally:
        reader.close()


def _mis_encoded(chunk: Any) -> bool:
    return chunk is not None and any(r.kind == "invalid encoding" for r in chunk.rejects)
