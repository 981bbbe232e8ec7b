"""Helpers for tests against the real emulator on loopback."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import orjson
from click.testing import CliRunner

from backfill.cli import cli
from backfill.emulator import Emulator, EmulatorThread, Faults, Store

SITE, KEY = "test-site", "s3cret-test-key-XYZ"


def start(tmp_path: Path, **options) -> tuple[EmulatorThread, Store]:
    faults = options.pop("faults", Faults(seed=1))
    store = Store(str(tmp_path / "emulator.sqlite"))
    emu = EmulatorThread(Emulator(SITE, KEY, store, faults, **options)).start()
    return emu, store


def stored(store: Store) -> Counter:
    """Every stored operation's JSON (canonical), with how many times it was stored."""
    with sqlite3.connect(store.path) as con:
        bodies = [b for (b,) in con.execute("SELECT body FROM operations")]
    return Counter(orjson.dumps(orjson.loads(b), option=orjson.OPT_SORT_KEYS) for b in bodies)


def run(emu: EmulatorThread, mapping: Path, inputs: list[Path], *args, key: str = KEY):
    env = {"CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": key}
    return CliRunner().invoke(cli, ["run", str(mapping), *map(str, inputs), "--endpoint",
                                    emu.url, "--quiet", *map(str, args)], env=env)
