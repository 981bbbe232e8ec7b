"""Signals to real processes, as schedulers send them: SIGTERM before sending starts stops at
once with "nothing was sent" (exit 3); SIGHUP while sending drains like SIGINT and the same
command resumes; with requests hanging, SIGTERM ends the run within --drain-timeout, the
checkpoint saved."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from helpers import ROOT, write
from helpers.emulated import KEY, SITE, start, stored
from helpers.hostile import REGION, Hostile

from backfill.runfiles.checkpoint import read_checkpoint

MAPPING = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
           "    identifiers: {id: user_id}\n")
ENV = {**os.environ, "CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}


def job(tmp_path, rows: int):
    mapping = write(tmp_path / "m.yaml", MAPPING)
    data = write(tmp_path / "p.csv", "user_id\n" + "".join(f"u{i}\n" for i in range(rows)))
    return mapping, data


def command(url, mapping, data, *extra):
    return [sys.executable, "-m", "backfill", "run", str(mapping), str(data), "--endpoint", url,
            "--quiet", *extra]


def test_sigterm_before_sending_stops_at_once_with_nothing_sent(tmp_path):
    mapping, data = job(tmp_path, 100)

    async def slow_region(method, path, body):
        await asyncio.sleep(30)  # the check before reading hangs
        return REGION

    with Hostile(slow_region) as api:
        proc = subprocess.Popen(command(api.url, mapping, data), env=ENV, cwd=ROOT,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        took = time.monotonic() - sent
    assert proc.returncode == 3, err
    assert "SIGTERM before anything was sent: nothing was sent" in err
    assert "Traceback" not in err and took < 5 and api.posts == 0


def test_sighup_while_sending_drains_and_the_same_command_resumes(tmp_path, emulator):
    mapping, data = job(tmp_path, 60_000)
    emu, store = emulator, emulator.emulator.store
    slow = command(emu.url, mapping, data, "--rate", "4", "--concurrency", "1")
    proc = subprocess.Popen(slow, env=ENV, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while store.requests < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert "SIGHUP: finishing the requests in flight" in err and "to resume" in err
    assert not read_checkpoint(tmp_path / "p.csv.checkpoint.json").finished
    again = subprocess.run(command(emu.url, mapping, data), env=ENV, cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert len(stored(store)) == 60_000


def test_with_requests_hanging_sigterm_ends_within_the_drain_timeout(tmp_path):
    mapping, data = job(tmp_path, 20_000)

    async def hang(method, path, body):
        if path == "/api/v1/accounts/region":
            return REGION
        await asyncio.sleep(120)  # a body in flight that never answers
        return 200, {}, b"{}"

    with Hostile(hang) as api:
        proc = subprocess.Popen(command(api.url, mapping, data, "--drain-timeout", "3"),
                                env=ENV, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while api.posts < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    assert proc.returncode == 3, err
    assert "SIGTERM: finishing the requests in flight (at most 3 s)" in err
    assert took < 3 + 4, took  # the drain bound, plus the final save and exit
    checkpoint = read_checkpoint(tmp_path / "p.csv.checkpoint.json")
    assert checkpoint is not None and not checkpoint.finished and checkpoint.done[0].count() == 0


def test_sigterm_with_the_reader_blocked_on_a_slow_stdin_ends_within_the_drain(tmp_path):
    mapping = write(tmp_path / "m.yaml", MAPPING)
    emu, store = start(tmp_path)
    try:
        proc = subprocess.Popen([*command(emu.url, mapping, "-", "--checkpoint",
                                          str(tmp_path / "cp.json"))],
                                env=ENV, cwd=ROOT, stdin=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        proc.stdin.write("user_id\n" + "".join(f"u{i}\n" for i in range(100)))
        proc.stdin.flush()  # and then nothing more: the reader waits for the rest
        time.sleep(2)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)  # stdin stays open (communicate would close it: an end)
        took = time.monotonic() - sent
        err = proc.stderr.read()
    finally:
        proc.stdin.close()
        emu.stop()
    assert proc.returncode == 3, err
    assert took < 8 + 4, took  # not the 60 s it took
    assert read_checkpoint(tmp_path / "cp.json") is not None
