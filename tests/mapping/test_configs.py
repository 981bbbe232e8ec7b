"""Each example config in configs/ validates and runs against the emulator."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from helpers.emulated import KEY, SITE, start

import backfill

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_config_validates_and_runs_against_the_emulator(config, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    validated = backfill.validate(config, rejects=tmp_path / "v.rej")
    assert validated.exit_code in (0, 1)
    emu, store = start(tmp_path)
    try:
        report = backfill.run(config, site_id=SITE, api_key=KEY, endpoint=emu.url,
                              checkpoint=tmp_path / "cp.json", rejects=tmp_path / "r.rej")
    finally:
        emu.stop()
    assert report.exit_code == validated.exit_code
    assert report.operations_rejected == 0
    assert report.operations_delivered == validated.operations_packed
    assert report.rows_rejected == validated.rows_rejected > 0  # each sample has bad rows
    with sqlite3.connect(store.path) as con:
        if config.stem == "segments":  # one stored entry per request, holding its ids
            ids = sum(len(orjson.loads(b)["ids"]) for (b,) in
                      con.execute("SELECT body FROM operations"))
            assert ids == report.operations_delivered
        else:
            (n,) = con.execute("SELECT count(*) FROM operations").fetchone()
            assert n == report.operations_delivered
