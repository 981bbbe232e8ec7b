"""Each example config in configs/ validates and runs against the emulator."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from emulated import KEY, SITE, start

from backfill.cli import cli

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_config_validates_and_runs_against_the_emulator(config, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    checked = runner.invoke(cli, ["validate", str(config), "--quiet", "--report",
                                  str(tmp_path / "v.json"), "--rejects", str(tmp_path / "v.rej")])
    assert checked.exit_code in (0, 1), checked.output
    validated = orjson.loads((tmp_path / "v.json").read_bytes())
    emu, store = start(tmp_path)
    try:
        result = runner.invoke(cli, [
            "run", str(config), "--endpoint", emu.url, "--quiet", "--report",
            str(tmp_path / "r.json"), "--checkpoint", str(tmp_path / "cp.json"),
            "--rejects", str(tmp_path / "r.rej")],
            env={"CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY})
    finally:
        emu.stop()
    assert result.exit_code == validated["exit_code"], result.output
    report = orjson.loads((tmp_path / "r.json").read_bytes())
    assert report["operations_rejected"] == 0
    assert report["operations_delivered"] == validated["operations_packed"]
    assert report["rows_rejected"] == validated["rows_rejected"] > 0  # each sample has bad rows
    with sqlite3.connect(store.path) as con:
        if config.stem == "segments":  # one stored entry per request, holding its ids
            ids = sum(len(orjson.loads(b)["ids"]) for (b,) in
                      con.execute("SELECT body FROM operations"))
            assert ids == report["operations_delivered"]
        else:
            (n,) = con.execute("SELECT count(*) FROM operations").fetchone()
            assert n == report["operations_delivered"]
