"""`--keep N`: a finished run's checkpoint and rejects are archived with their date, and only
the newest N archives of each are kept (7 by default), said in the summary; nothing else beside
them is touched, not even a link named like an archive."""

from __future__ import annotations

import os

from click.testing import CliRunner
from helpers import write
from helpers.emulated import KEY, SITE, start

from backfill.cli import cli
from backfill.runfiles.archives import KEEP, prune


def test_prune_keeps_the_newest_archives_and_touches_nothing_else(tmp_path):
    live = write(tmp_path / "p.csv.checkpoint.json", "{}")
    names = [f"p.csv.checkpoint.2026-11-{day:02d}T020000.json" for day in range(20, 30)]
    names.append("p.csv.checkpoint.2026-11-29T020000-2.json")  # two runs in one second
    for name in names:
        write(tmp_path / name, "{}")
    others = [write(tmp_path / n, "x") for n in ("p.csv.checkpoint.notes.json",
                                                  "q.csv.checkpoint.2026-11-01T020000.json")]
    os.symlink(tmp_path / "elsewhere", tmp_path / "p.csv.checkpoint.2026-11-01T000000.json")
    removed = prune(str(live), 3)
    left = sorted(p.name for p in tmp_path.glob("p.csv.checkpoint.2026-*"))
    assert left == ["p.csv.checkpoint.2026-11-01T000000.json",  # the link, untouched
                    "p.csv.checkpoint.2026-11-28T020000.json",
                    "p.csv.checkpoint.2026-11-29T020000-2.json",
                    "p.csv.checkpoint.2026-11-29T020000.json"]
    assert len(removed) == 8 and live.exists() and all(p.exists() for p in others)


def test_nightly_runs_keep_only_the_newest_archives_and_say_so(tmp_path):
    mapping = write(tmp_path / "m.yaml", "version: 1\noperations:\n  - type: person\n"
                    "    action: identify\n    identifiers: {id: user_id}\n"
                    "    attributes: {n: {column: n, as: int}}\n")
    emu, _ = start(tmp_path / "emu")
    outputs = []
    try:
        for night in range(4):  # a reject each night, so that each night leaves a rejects file
            data = write(tmp_path / "p.csv", f"user_id,n\nu1,{night}\nu2,x\n")
            result = CliRunner().invoke(cli, [
                "run", str(mapping), str(data), "--endpoint", emu.url, "--quiet", "--keep", "2"],
                env={"CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY})
            assert result.exit_code == 1, result.output
            outputs.append(result.output)
    finally:
        emu.stop()
    checkpoints = list(tmp_path.glob("p.csv.checkpoint.2*.json"))
    rejects = list(tmp_path.glob("p.csv.rejects.2*.ndjson"))
    assert len(checkpoints) == 2 and len(rejects) == 2
    assert "2 older archives removed (--keep 2" in outputs[3]
    assert "removed" not in outputs[1]  # two archives so far: nothing to remove
    assert KEEP == 7
