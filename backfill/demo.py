"""`backfill demo`: the emulator on a free port, the sample configs run against it, a summary."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from backfill import api
from backfill.emulator import Emulator, EmulatorThread, Store
from backfill.emulator.views import summary

SITE_ID, API_KEY = "demo-site", "demo-key"
CONFIGS = ("configs/people.yaml", "configs/events.yaml")


def run_demo(folder: Path, echo: Callable[[str], None], root: Path | None = None) -> int:
    root = root or Path.cwd()
    missing = [c for c in CONFIGS if not (root / c).exists()]
    if missing:
        echo(f"error: {', '.join(missing)} not found: run `backfill demo` from the repository "
             "folder (it imports sample_data/ with configs/)")
        return 2
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "emulator.sqlite"
    for stale in folder.glob("*"):
        stale.unlink()
    store = Store(str(db))
    with EmulatorThread(Emulator(SITE_ID, API_KEY, store)) as emu:
        echo(f"Track API emulator on {emu.url}, storing in {db}")
        for config in CONFIGS:
            mapping = api.load(root / config)
            name = Path(config).stem
            echo(f"\n== backfill run {config} --endpoint {emu.url}")
            inputs = [os.path.relpath(os.path.normpath((root / config).parent / p))
                      for p in mapping.source.paths]  # source.path is the mapping's folder's
            report = api.run(mapping, inputs,
                             site_id=SITE_ID, api_key=API_KEY, endpoint=emu.url,
                             checkpoint=folder / f"{name}.checkpoint.json",
                             rejects=folder / f"{name}.rejects.ndjson")
            (folder / f"{name}.report.json").write_bytes(report.to_json())
            echo(report.to_text())
    with contextlib.closing(sqlite3.connect(db)) as con:  # closed: no -wal file left
        rows = con.execute("SELECT type, action, count(*) FROM operations GROUP BY 1, 2 "
                           "ORDER BY 1, 2").fetchall()
        held = summary(con)
    echo(f"\nThe emulator stored {sum(n for *_, n in rows):,} operations in {db}:")
    for typ, action, n in rows:
        echo(f"  {typ} {action}: {n:,}")
    echo("The workspace they leave (backfill emulator --db " + str(db) + ", then GET "
         "/_emulator/summary, /_emulator/people/{id}, /_emulator/findings): " + ", ".join(
             f"{held[k]:,} {k.replace('_', ' ')}" for k in (
                 "people", "objects", "relationships", "events", "devices")))
    echo(f"Checkpoints, rejects and reports are in {folder}/")
    return 0
