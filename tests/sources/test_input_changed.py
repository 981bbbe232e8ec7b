"""Inputs are what they were: a file truncated, rewritten, replaced or grown while it is read
stops the run (exit 3) with what happened, never "finished"; the checkpoint then refuses to resume
on the other file; a resume of stdin is refused unless --restart is given."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from helpers import ROOT, write
from helpers.emulated import KEY, SITE, start, stored

from backfill.cli import cli
from backfill.contract import CsvOptions
from backfill.errors import InputChanged
from backfill.runfiles.checkpoint import RowSet, read_checkpoint, save
from backfill.sources.files import Input

MAPPING = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
           "    identifiers: {id: user_id}\n    attributes: {note: note}\n")
ENV = {**os.environ, "CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}


def people(rows: int) -> str:
    return "user_id,note\n" + "".join(f"u{i},{'n' * 60}{i}\n" for i in range(rows))


@pytest.mark.parametrize(("change", "said"), [
    (lambda p: os.truncate(p, os.path.getsize(p) // 3), "was truncated while it was read"),
    (lambda p: p.write_bytes(p.read_bytes().replace(b"u1,", b"x1,")),
     "was rewritten while it was read"),
    (lambda p: p.open("ab").write(b"u-new,late\n"), "grew while it was read"),
    (lambda p: os.replace(write(p.with_suffix(".new"), "user_id,note\nz,z\n"), p),
     "was replaced by another file"),
])
def test_a_file_changed_between_blocks_is_said_at_the_end(tmp_path, change, said):
    path = write(tmp_path / "p.csv", people(200_000))
    reader = Input(str(path), "csv").open(CsvOptions(), block_bytes=1024 * 1024)
    tasks = reader.tasks()
    next(tasks)[0]()
    time.sleep(0.01)  # a later modification time, whatever the clock's resolution
    change(path)
    for task, _ in tasks:
        task()
    with pytest.raises(InputChanged, match=said):
        reader.check_unchanged()
    reader.close()


def test_an_unchanged_file_passes(tmp_path):
    path = write(tmp_path / "p.csv", people(1000))
    reader = Input(str(path), "csv").open(CsvOptions())
    for task, _ in reader.tasks():
        task()
    reader.check_unchanged()  # no error
    reader.close()


def command(emu, mapping, data, *extra):
    return [sys.executable, "-m", "backfill", "run", str(mapping), str(data), "--endpoint",
            emu.url, "--quiet", "--rate", "5", "--concurrency", "1", *extra]


def test_a_file_truncated_under_a_run_stops_it_and_is_not_resumed(tmp_path):
    rows = 300_000
    mapping = write(tmp_path / "m.yaml", MAPPING)
    data = write(tmp_path / "p.csv", people(rows))
    emu, store = start(tmp_path)
    try:
        proc = subprocess.Popen(command(emu, mapping, data), env=ENV, cwd=ROOT,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while store.requests < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.truncate(data, os.path.getsize(data) // 2)  # the export job rewrites it
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 3, err
        assert "was truncated while it was read" in err and "--restart" in err
        assert "Traceback" not in err
        assert not read_checkpoint(tmp_path / "p.csv.checkpoint.json").finished
        again = subprocess.run(command(emu, mapping, data), env=ENV, cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 2 and "holds an unfinished run" in again.stderr
        restarted = subprocess.run(command(emu, mapping, data, "--restart", "--rate", "1000"),
                                   env=ENV, cwd=ROOT, capture_output=True, text=True,
                                   timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        emu.stop()
    assert restarted.returncode == 0, restarted.stderr
    assert len(stored(store)) >= rows // 2 - 10  # every row the file now has


def test_a_resume_of_stdin_is_refused_without_restart(tmp_path):
    mapping = write(tmp_path / "m.yaml", MAPPING)
    env = {"CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}
    emu, store = start(tmp_path)
    checkpoint = tmp_path / "cp.json"
    args = ["run", str(mapping), "-", "--endpoint", emu.url, "--quiet", "--checkpoint",
            str(checkpoint), "--rejects", str(tmp_path / "r.ndjson")]
    try:
        first = CliRunner().invoke(cli, args, input=people(100), env=env)
        assert first.exit_code == 0, first.output
        cp = read_checkpoint(checkpoint)  # as if the run had been stopped half way
        cp.finished, cp.done[0] = False, RowSet(50)
        save(checkpoint, cp)
        other = people(300)
        refused = CliRunner().invoke(cli, args, input=other, env=env)
        assert refused.exit_code == 2, refused.output
        assert "read standard input" in refused.output and "--restart" in refused.output
        restarted = CliRunner().invoke(cli, [*args, "--restart"], input=other, env=env)
    finally:
        emu.stop()
    assert restarted.exit_code == 0, restarted.output
    assert len(stored(store)) == 300
