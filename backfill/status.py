"""`backfill status`: what a checkpoint or a nightly state file holds, in words or JSON."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import orjson

from backfill import storage
from backfill.errors import UsageError
from backfill.nightly import statefile
from backfill.runfiles import checkpoint


def status(path: str | os.PathLike, as_json: bool = False) -> str:
    """A checkpoint (JSON) or a state (Parquet), told apart by their first bytes; either may
    be in object storage."""
    fix = "status reads a run's checkpoint (<input>.checkpoint.json) or a --state file"
    if storage.is_url(path):  # downloaded once, then read as whichever it is
        with tempfile.TemporaryDirectory() as folder:  # streamed: a state of 10M keys is 160 MB
            local = Path(folder) / "object"
            found = storage.download(os.fspath(path), local)
            if found and statefile.is_state(local):
                return _state(local, path, as_json)
            cp = checkpoint.parse(local.read_bytes(), path, fix) if found else None
    elif statefile.is_state(path):
        return _state(path, path, as_json)
    else:
        cp = checkpoint.read_checkpoint(path, fix=fix)
    if cp is None:
        raise UsageError(f"{path}: no such checkpoint or state")
    return cp.to_bytes(stamp=False).decode() if as_json else checkpoint.describe(cp, os.fspath(path))


def _state(local: str | os.PathLike, path: str | os.PathLike, as_json: bool) -> str:
    info = statefile.read_info(local)
    assert info is not None
    if as_json:
        return orjson.dumps(asdict(info), option=orjson.OPT_INDENT_2).decode()
    return statefile.describe(info, path)
