"""`backfill status`: what a checkpoint or a nightly state file holds, in words or JSON."""

from __future__ import annotations

import os
from dataclasses import asdict

import orjson

from backfill.errors import UsageError
from backfill.state import checkpoint, store


def status(path: str | os.PathLike, as_json: bool = False) -> str:
    """A checkpoint (JSON) or a state (Parquet), told apart by their first bytes."""
    if store.is_state(path):
        info = store.read_info(path)
        assert info is not None
        if as_json:
            return orjson.dumps(asdict(info), option=orjson.OPT_INDENT_2).decode()
        return store.describe(info, path)
    cp = checkpoint.load(path)
    if cp is None:
        raise UsageError(f"{path}: no such checkpoint or state")
    return cp.to_bytes().decode() if as_json else checkpoint.describe(cp, os.fspath(path))
