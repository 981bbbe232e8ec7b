"""Crashes and interrupts: SIGKILL and SIGINT at random points, then resume. Nothing is lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import orjson
import pytest
from helpers import ROOT, reliability
from helpers.emulated import KEY, SITE, start, stored
from helpers.oracle import csv_rows, identify_and_event

from backfill.emulator import Faults
from backfill.runfiles.checkpoint import read_checkpoint

ATTRIBUTES = reliability.ATTRIBUTES

pytestmark = pytest.mark.slow

CONCURRENCY = 4
RATE = 10  # bodies a second: a run of make_job's rows lasts about 3 s, longer than the kills


def make_job(tmp_path, rows=40_000):
    return reliability.make_job(tmp_path, rows)


def command(emu, mapping, data, *extra):
    return [sys.executable, "-m", "backfill", "run", str(mapping), str(data), "--endpoint",
            emu.url, "--quiet", "--rate", str(RATE), "--concurrency", str(CONCURRENCY), *extra]


ENV = {**os.environ, "CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}


def max_ops_per_body(tmp_path, mapping, data) -> int:
    dump = tmp_path / "bodies"
    subprocess.run([sys.executable, "-m", "backfill", "validate", str(mapping), str(data),
                    "--dump-batches", str(dump), "--quiet"], env=ENV, cwd=ROOT,
                   capture_output=True)
    return max(len(orjson.loads(x)["batch"]) for x in dump.read_bytes().splitlines())


def sending(store, before: int, proc: subprocess.Popen, seconds: float = 60) -> None:
    """Until the emulator has stored operations beyond `before` (the run is sending), or the
    run has ended."""
    deadline = time.monotonic() + seconds
    while store.operations <= before and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def test_sigkill_at_random_points_then_resume_loses_nothing(tmp_path):
    mapping, data = make_job(tmp_path)
    want = identify_and_event(csv_rows(data), ATTRIBUTES)
    per_body = max_ops_per_body(tmp_path, mapping, data)
    emu, store = start(tmp_path, faults=Faults(latency_ms=(20, 60), seed=5))
    rng = random.Random(11)
    kills = 0
    finished = False
    try:
        for _ in range(3):
            before = store.operations
            proc = subprocess.Popen(command(emu, mapping, data), env=ENV, cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            sending(store, before, proc)  # a slow machine's start is not a kill point
            time.sleep(rng.uniform(0.5, 2.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(30)
            cp = read_checkpoint(tmp_path / "people.csv.checkpoint.json")
            assert cp is not None  # the checkpoint always loads
            if proc.returncode == 0:
                finished = True  # a later run would be a new run over the same data
                break
            assert store.operations >= before
        if not finished:
            final = subprocess.run(command(emu, mapping, data), env=ENV, cwd=ROOT,
                                   capture_output=True, text=True, timeout=300)
            assert final.returncode == 0, final.stderr
    finally:
        emu.stop()
    assert kills >= 1
    got = stored(store)
    assert set(got) == set(want)  # nothing lost, nothing unexpected
    duplicates = sum(got.values()) - sum(want.values())
    # re-sent only what was in flight or acknowledged since the last checkpoint save (0.5 s)
    bound = kills * (CONCURRENCY + RATE * 0.5 + 1) * per_body
    assert 0 <= duplicates <= bound, (duplicates, bound)


def test_sigint_drains_saves_and_exits_3_then_resumes(tmp_path):
    mapping, data = make_job(tmp_path)
    want = identify_and_event(csv_rows(data), ATTRIBUTES)
    emu, store = start(tmp_path, faults=Faults(latency_ms=(20, 60), seed=5))
    try:
        proc = subprocess.Popen(command(emu, mapping, data), env=ENV, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sending(store, 0, proc)
        time.sleep(1.0)  # two checkpoint saves' worth of acknowledged bodies
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err
        assert "interrupted" in err and "to resume" in err and "backfill run" in err
        assert KEY not in out + err
        cp = read_checkpoint(tmp_path / "people.csv.checkpoint.json")
        assert not cp.finished and cp.done[0].count() > 0
        again = subprocess.run(command(emu, mapping, data), env=ENV, cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
    finally:
        emu.stop()
    assert again.returncode == 0, again.stderr
    assert set(stored(store)) == set(want)
    report_line = [x for x in again.stdout.splitlines() if "rows skipped" in x]
    assert report_line, again.stdout  # the resume skipped rows done before
