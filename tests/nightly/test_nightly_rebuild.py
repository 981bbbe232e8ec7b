"""A rebuild night (`--full`, or a changed mapping) killed at any moment keeps every key once the
same command resumes it: the next unchanged night sends nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import pytest
from helpers import ROOT, write
from helpers.emulated import KEY, SITE
from helpers.nightly import MAPPING

from backfill.nightly import statefile as state_store
from backfill.runfiles.checkpoint import read_checkpoint

pytestmark = pytest.mark.slow

ROWS = 20_000
ENV = {**os.environ, "CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}


def command(emu, folder, *extra):
    return [sys.executable, "-m", "backfill", "run", str(folder / "people.yaml"),
            str(folder / "people.csv"), "--endpoint", emu.url, "--quiet",
            "--state", str(folder / "people.state"), *extra]


@pytest.mark.parametrize(("how", "sig"), [("--full", signal.SIGKILL),
                                          ("--full", signal.SIGTERM),
                                          ("changed mapping", signal.SIGKILL)])
def test_a_killed_rebuild_night_keeps_every_key(tmp_path, emulator, how, sig):
    write(tmp_path / "people.yaml", MAPPING)
    write(tmp_path / "people.csv", "user_id,email,plan\n" + "".join(
        f"u{i},u{i}@example.com,free\n" for i in range(ROWS)))
    emu = emulator
    first = subprocess.run(command(emu, tmp_path), env=ENV, cwd=ROOT, capture_output=True,
                           text=True)
    assert first.returncode == 0, first.stderr
    extra = ["--full"] if how == "--full" else []
    if how == "changed mapping":  # what is sent changes: every row is sent again
        write(tmp_path / "people.yaml", MAPPING.replace("plan: plan}", "plan: plan, "
                                                        "tier: {value: gold}}"))
    slow = ["--rate", "1", "--concurrency", "1"]
    proc = subprocess.Popen(command(emu, tmp_path, *extra, *slow), env=ENV, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = tmp_path / "people.csv.checkpoint.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # killed once part of the night is saved
        cp = read_checkpoint(checkpoint) if checkpoint.exists() else None
        if cp is not None and not cp.finished and cp.done[0].count() > 0:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(60)
    assert proc.returncode in (-signal.SIGKILL, 3), proc.stderr.read()
    assert not read_checkpoint(checkpoint).finished
    resumed = subprocess.run(command(emu, tmp_path, *extra), env=ENV, cwd=ROOT,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    info = state_store.read_info(tmp_path / "people.state")
    assert info is not None and info.keys == ROWS  # every key, not only the resumed part's
    next_night = subprocess.run([*command(emu, tmp_path), "--report",
                                 str(tmp_path / "r.json")], env=ENV, cwd=ROOT,
                                capture_output=True, text=True)
    assert next_night.returncode == 0, next_night.stderr
    report = orjson.loads((tmp_path / "r.json").read_bytes())
    assert report["requests"] == 0 and report["rows_unchanged"] == ROWS
