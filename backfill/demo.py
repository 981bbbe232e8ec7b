"""`backfill demo`: the emulator on a free port, the sample configs run against it, a summary."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from backfill import api
from backfill.emulator import Emulator, EmulatorThread, Store
from backfill.emulator.views import summary

SITE_ID, API_KEY = "demo-site", "demo-key"
CONFIGS = ("configs/people.yaml", "configs/events.yaml")


def run_demo(folder: Path, echo: Callable[[str], None], root: Path | None = None,
             keep_open: bool = False) -> int:
    """Import the samples into an emulator; with `keep_open`, serve its pages until Ctrl-C."""
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
            _import(root, config, folder, emu.url, echo)
        store.settle()  # the workspace holds every operation
        _summary(store, folder, echo)
        if keep_open:
            echo(f"\nThe workspace's pages: {emu.url}/ (user {SITE_ID}, password {API_KEY}). "
                 "Ctrl-C stops the emulator.")
            _serve_until_stopped(echo)
        else:
            echo(f"To browse what the import left: backfill emulator --db {db} --site-id "
                 f"{SITE_ID} --api-key {API_KEY}, then open http://127.0.0.1:8080/ (or run "
                 "`backfill demo --keep-open`)")
    return 0


def _serve_until_stopped(echo: Callable[[str], None]) -> None:
    """Until Ctrl-C, or a SIGTERM (docker stop, systemd), either of which closes the store."""
    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        echo("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _import(root: Path, config: str, folder: Path, url: str,
            echo: Callable[[str], None]) -> None:
    mapping = api.load(root / config)
    name = Path(config).stem
    echo(f"\n== backfill run {config} --endpoint {url}")
    inputs = [os.path.relpath(os.path.normpath((root / config).parent / p))
              for p in mapping.source.paths]  # source.path is the mapping's folder's
    report = api.run(mapping, inputs, site_id=SITE_ID, api_key=API_KEY, endpoint=url,
                     checkpoint=folder / f"{name}.checkpoint.json",
                     rejects=folder / f"{name}.rejects.ndjson")
    (folder / f"{name}.report.json").write_bytes(report.to_json())
    echo(report.to_text())


def _summary(store: Store, folder: Path, echo: Callable[[str], None]) -> None:
    held = summary(store.reading(), dict(store.kinds))
    kinds = held["operations_by_kind"]
    echo(f"\nThe emulator stored {sum(kinds.values()):,} operations in {store.path}:")
    for kind, n in kinds.items():
        echo(f"  {kind}: {n:,}")
    echo("The workspace they leave: " + ", ".join(
        f"{held[k]:,} {k.replace('_', ' ')}" for k in (
            "people", "objects", "relationships", "events", "devices")))
    echo(f"Checkpoints, rejects and reports are in {folder}/")
