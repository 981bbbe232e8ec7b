"""Reliability scenarios against the emulator on loopback: faults, outages, crashes, interrupts.

Each scenario returns its figures (rows and operations expected, delivered, lost, duplicated).
`tests/delivery/test_reliability.py` asserts on them; `bench/reliability.py` prints them for
RELIABILITY.md.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from backfill.emulator import Emulator, EmulatorThread, Faults, Store
from backfill.runfiles.checkpoint import read_checkpoint
from helpers import ROOT
from helpers.emulated import KEY, SITE, stored
from helpers.oracle import csv_rows, identify_and_event

ENV = {**os.environ, "CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY,
       "PYTHONPATH": str(ROOT)}
ATTRIBUTES = ["email", "plan", "bio"]  # the identify's attributes in MAPPING
MAPPING = """\
version: 1
operations:
  - type: person
    action: identify
    identifiers: {id: user_id}
    attributes: {email: email, plan: plan, bio: bio}
  - type: person
    action: event
    identifiers: {id: user_id}
    name: {value: imported}
    timestamp: ts
"""
# Run the CLI with checkpoint saves slowed down and announced, to kill one mid-save.
SLOW_SAVE = """
import os, sys, time
from pathlib import Path
import backfill.runfiles.checkpoint as c
_replace = os.replace
def slow_replace(src, dst):
    if str(dst).endswith('.checkpoint.json'):
        Path(os.environ['SAVE_MARK']).write_text('saving')
        time.sleep(0.4)
    _replace(src, dst)
c.os.replace = slow_replace
from backfill.cli import main
sys.argv = ['backfill'] + sys.argv[1:]
main()
"""


@dataclass
class Figures:
    scenario: str
    command: str
    injected: str
    rows: int
    operations_expected: int
    operations_stored: int = 0
    lost: int = 0
    duplicated: int = 0
    exit_codes: list[int] = field(default_factory=list)
    notes: str = ""

    def row(self) -> str:
        return (f"| {self.scenario} | `{self.command}` | {self.injected} | {self.rows:,} | "
                f"{self.operations_expected:,} | {self.operations_stored:,} | {self.lost:,} | "
                f"{self.duplicated:,} | {', '.join(map(str, self.exit_codes))} | {self.notes} |")


def make_job(folder: Path, rows: int) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    mapping = folder / "m.yaml"
    mapping.write_text(MAPPING)
    rng = random.Random(rows)
    plans = ["free", "pro", "enterprise", ""]
    lines = ["user_id,email,plan,bio,ts"] + [
        f"u{i},u{i}@example.com,{rng.choice(plans)},{'b' * rng.randrange(0, 200)},"
        f"{1700000000 + i}" for i in range(rows)]
    data = folder / "people.csv"
    data.write_text("\n".join(lines) + "\n")
    return mapping, data


def command(url: str, mapping: Path, data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "backfill", "run", str(mapping), str(data), "--endpoint", url,
            "--quiet", *extra]


def shown(cmd: list[str]) -> str:
    """The command as a user would type it: file names without the temporary folder."""
    words = ["backfill", *cmd[3:]]
    return " ".join(Path(w).name if w.startswith("/") else w for w in words)


def compare(fig: Figures, want: Counter, got: Counter) -> Figures:
    fig.operations_stored = sum(got.values())
    fig.lost = sum(max(n - got.get(op, 0), 0) for op, n in want.items())
    fig.duplicated = sum(got.values()) - sum(want.values()) + fig.lost
    return fig


def faults(folder: Path, rows: int = 200_000) -> Figures:
    """5% 503, 5% 429 with Retry-After, 1% connections closed unanswered, 2-20 ms latency."""
    mapping, data = make_job(folder, rows)
    want = identify_and_event(csv_rows(data), ATTRIBUTES)
    f = Faults(fail_rate=0.05, throttle_rate=0.05, drop_rate=0.005, lost_answer_rate=0.005,
               latency_ms=(2, 20), retry_after=1.0, seed=7)
    store = Store(str(folder / "emulator.sqlite"), keep_workspace=False)
    with EmulatorThread(Emulator(SITE, KEY, store, f)) as emu:
        cmd = command(emu.url, mapping, data, "--report", str(folder / "report.json"))
        done = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True,
                              timeout=900)
    report = orjson.loads((folder / "report.json").read_bytes())
    fig = Figures("faults", shown(cmd), "5% 503, 5% 429 (Retry-After 1 s), 0.5% dropped "
                  "unanswered before processing, 0.5% after (answer lost), 2-20 ms latency",
                  rows, sum(want.values()), exit_codes=[done.returncode])
    compare(fig, want, stored(store))
    fig.notes = (f"{report['requests']} requests, {report['retries']} retries; "
                 f"{store.lost_answers} answers lost after storing: the duplicates are those "
                 "bodies, re-sent")
    return fig


def outage(folder: Path, rows: int = 60_000, seconds: float = 10.0) -> Figures:
    """The emulator stops for `seconds` mid-run and comes back on the same port and store."""
    mapping, data = make_job(folder, rows)
    want = identify_and_event(csv_rows(data), ATTRIBUTES)
    db = str(folder / "emulator.sqlite")
    store = Store(db, keep_workspace=False)
    emu = EmulatorThread(Emulator(SITE, KEY, store, Faults(latency_ms=(5, 10), seed=1))).start()
    port = emu.port
    cmd = command(emu.url, mapping, data, "--rate", "20")
    proc = subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    emu.stop()
    time.sleep(seconds)
    emu = EmulatorThread(Emulator(SITE, KEY, Store(db, keep_workspace=False), Faults(seed=2)),
                         port=port).start()
    codes = [proc.wait(600)]
    if codes[-1] == 3:  # out of retries: the same command finishes the job
        codes.append(subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True,
                                    timeout=600).returncode)
    emu.stop()
    fig = Figures("outage", shown(cmd), f"emulator stopped {seconds:g} s mid-run, restarted on "
                  "the same port and store", rows, sum(want.values()), exit_codes=codes)
    compare(fig, want, stored(Store(db)))
    fig.notes = ("waited it out within the retry budget" if codes == [0] else
                 "stopped with exit 3 after its retries, resumed")
    return fig


def exhausted(folder: Path, rows: int = 20_000) -> Figures:
    """Every request fails until retries run out; then the API heals and the run is resumed."""
    mapping, data = make_job(folder, rows)
    want = identify_and_event(csv_rows(data), ATTRIBUTES)
    store = Store(str(folder / "emulator.sqlite"), keep_workspace=False)
    with EmulatorThread(Emulator(SITE, KEY, store, Faults(fail_rate=1.0, seed=1))) as emu:
        cmd = command(emu.url, mapping, data, "--retries", "3")
        first = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True,
                               timeout=300)
        saved = read_checkpoint(folder / "people.csv.checkpoint.json")
        emu.emulator.faults.fail_rate = 0.0
        second = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True,
                                timeout=300)
    fig = Figures("retries exhausted", shown(cmd), "100% 503 until the first run gives up, "
                  "then 0%", rows, sum(want.values()),
                  exit_codes=[first.returncode, second.returncode])
    compare(fig, want, stored(store))
    fig.notes = ("checkpoint saved at the stop: " + ("yes" if saved is not None else "no")
                 + "; the same command finished")
    return fig


def kills(folder: Path, rows: int = 60_000) -> Figures:
    """SIGKILL at 5 points (one of them mid-way through a checkpoint save), resuming after each."""
    mapping, data = make_job(folder, rows)
    want = identify_and_event(csv_rows(data), ATTRIBUTES)
    store = Store(str(folder / "emulator.sqlite"), keep_workspace=False)
    mark = folder / "saving.mark"
    env = {**ENV, "SAVE_MARK": str(mark)}
    checkpoint = folder / "people.csv.checkpoint.json"
    codes: list[int] = []
    points = []
    with EmulatorThread(Emulator(SITE, KEY, store, Faults(latency_ms=(10, 30), seed=3))) as emu:
        base = command(emu.url, mapping, data, "--rate", "15", "--concurrency", "4")
        slow = [sys.executable, "-c", SLOW_SAVE, *base[3:]]
        plan = [("while reading the first block", 0.3, False),
                ("mid-send", 1.5, False),
                ("during a checkpoint save", None, True),
                ("mid-send, later", 1.0, False),
                ("during a checkpoint save, again", None, True)]
        for what, delay, during_save in plan:
            mark.unlink(missing_ok=True)
            proc = subprocess.Popen(slow, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            if during_save:
                deadline = time.monotonic() + 60
                while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.005)
                time.sleep(0.1)  # inside the 0.4 s window between write and rename
            else:
                time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                points.append(what)
            codes.append(proc.wait(60))
            cp = read_checkpoint(checkpoint)  # always loads: old or new, never torn
            assert cp is None or cp.inputs
        final = subprocess.run(base, env=ENV, cwd=ROOT, capture_output=True, text=True,
                               timeout=600)
        codes.append(final.returncode)
    fig = Figures("SIGKILL x5", shown(base), "SIGKILL " + "; ".join(points), rows,
                  sum(want.values()), exit_codes=codes)
    compare(fig, want, stored(store))
    fig.notes = f"{len(points)} kills; duplicates: bodies in flight or acknowledged since the " \
                "last save (every 0.5 s), re-sent on resume"
    return fig


def interrupts(folder: Path, rows: int = 60_000) -> Figures:
    """Ctrl-C: drain and exit 3; the second run gets two Ctrl-C and stops at once; then resume."""
    mapping, data = make_job(folder, rows)
    want = identify_and_event(csv_rows(data), ATTRIBUTES)
    store = Store(str(folder / "emulator.sqlite"), keep_workspace=False)
    codes, notes = [], []
    with EmulatorThread(Emulator(SITE, KEY, store, Faults(latency_ms=(200, 400), seed=4))) as emu:
        cmd = command(emu.url, mapping, data, "--rate", "15", "--concurrency", "4")
        proc = subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        codes.append(proc.returncode)
        notes.append("resume command printed" if "to resume" in err else "NO resume command")
        proc = subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
        codes.append(proc.returncode)
        notes.append(f"second Ctrl-C stopped in {time.monotonic() - started:.2f} s")
        cp = read_checkpoint(folder / "people.csv.checkpoint.json")
        notes.append("checkpoint valid" if cp is not None and not cp.finished else "BAD checkpoint")
        final = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True,
                               timeout=600)
        codes.append(final.returncode)
    fig = Figures("Ctrl-C", shown(cmd), "SIGINT (drain); then SIGINT twice (stop at once)",
                  rows, sum(want.values()), exit_codes=codes)
    compare(fig, want, stored(store))
    fig.notes = "; ".join(notes)
    return fig
