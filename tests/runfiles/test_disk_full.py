"""A full disk is a stop, not a finish: on a real tmpfs of 64 KiB, the rejects file or the
checkpoint running out of space stops the run at once (exit 3, one line naming the path, no
traceback), the checkpoint saved before stays valid, and the same command, once space is
freed, delivers the rest with nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from helpers import ROOT, write
from helpers.emulated import KEY, SITE, start, stored

from backfill.runfiles.checkpoint import read_checkpoint

MAPPING = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
           "    identifiers: {id: user_id}\n    attributes: {seats: {column: seats, as: int}}\n")
ENV = {**os.environ, "CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}


def command(emu, mapping, data, tiny, *extra):
    return [sys.executable, "-m", "backfill", "run", str(mapping), str(data), "--endpoint",
            emu.url, "--quiet", "--checkpoint", str(tiny / "cp.json"), "--rejects",
            str(tiny / "rejects.ndjson"), *extra]


def expected(rows: int, bad: int) -> int:
    return rows - rows // bad


def test_rejects_filling_the_disk_stop_the_run_and_the_rest_follows(tmp_path, emulator, tiny):
    rows, bad = 20_000, 4  # a quarter rejected, each line with its record: far over 64 KiB
    mapping = write(tmp_path / "m.yaml", MAPPING)
    data = write(tmp_path / "p.csv", "user_id,seats\n" + "".join(
        f"u{i},{'many' if i % bad == 0 else i}\n" for i in range(rows)))
    emu, store = emulator, emulator.emulator.store
    first = subprocess.run(command(emu, mapping, data, tiny), env=ENV, cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 3, first.stderr
    assert "Traceback" not in first.stderr
    assert f"the rejects file {tiny / 'rejects.ndjson'} could not be written (No space " \
           "left on device)" in first.stderr
    assert "Free some space, then run the same command again" in first.stderr
    kept = read_checkpoint(tiny / "cp.json")  # the last good checkpoint: valid, unfinished
    assert kept is None or not kept.finished
    subprocess.run(["mount", "-o", "remount,size=8m", str(tiny)], check=True)
    second = subprocess.run(command(emu, mapping, data, tiny), env=ENV, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 1, second.stderr  # finished, with the rejects
    assert len(stored(store)) == expected(rows, bad)  # every good row delivered
    lines = (tiny / "rejects.ndjson").read_bytes().splitlines()
    assert lines and all(line.endswith(b"}") for line in lines)  # whole lines only
    assert {int(line.split(b'"row":')[1].split(b",")[0]) for line in lines} == \
        set(range(0, rows, bad))


def test_a_checkpoint_that_cannot_be_saved_stops_sending_at_once(tmp_path, tiny):
    rows = 40_000
    mapping = write(tmp_path / "m.yaml", MAPPING)
    data = write(tmp_path / "p.csv", "user_id,seats\n" + "".join(
        f"u{i},{i}\n" for i in range(rows)))
    emu, store = start(tmp_path)
    try:
        proc = subprocess.Popen(command(emu, mapping, data, tiny, "--rate", "4",
                                        "--concurrency", "1"),
                                env=ENV, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not (tiny / "cp.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        filler = tiny / "filler"
        fill(tiny)  # the disk fills while the run sends
        requests_at_fill = store.requests
        _, err = proc.communicate(timeout=60)
        requests_at_stop = store.requests
        assert proc.returncode == 3, err
        assert "Traceback" not in err
        assert f"the checkpoint {tiny / 'cp.json'} could not be written" in err
        assert requests_at_stop - requests_at_fill <= 4  # stopped within a save or two
        assert not read_checkpoint(tiny / "cp.json").finished
        filler.unlink()
        second = subprocess.run(command(emu, mapping, data, tiny), env=ENV, cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        emu.stop()
    assert second.returncode == 0, second.stderr
    assert len(stored(store)) == rows and read_checkpoint(tiny / "cp.json").finished


def fill(folder) -> None:
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def test_a_state_journal_that_cannot_be_written_stops_and_loses_no_key(tmp_path, tiny):
    rows = 40_000
    subprocess.run(["mount", "-o", "remount,size=16m", str(tiny)], check=True)
    mapping = write(tmp_path / "m.yaml", MAPPING)
    data = write(tmp_path / "p.csv", "user_id,seats\n" + "".join(
        f"u{i},{i}\n" for i in range(rows)))
    state = tiny / "p.state"
    night = [sys.executable, "-m", "backfill", "run", str(mapping), str(data), "--endpoint", "",
             "--quiet", "--state", str(state)]
    emu, store = start(tmp_path)
    night[night.index("--endpoint") + 1] = emu.url
    try:
        proc = subprocess.Popen([*night, "--rate", "4", "--concurrency", "1"], env=ENV,
                                cwd=ROOT, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while store.requests < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        fill(tiny)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err
        assert "Traceback" not in err and f"{state} could not be written" in err
        assert "Free some space" in err
        (tiny / "filler").unlink()
        second = subprocess.run(night, env=ENV, cwd=ROOT, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 0, second.stderr
        third = subprocess.run([*night, "--report", str(tmp_path / "r.json")], env=ENV,
                               cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        emu.stop()
    assert third.returncode == 0, third.stderr
    assert '"requests": 0' in (tmp_path / "r.json").read_text()  # every key was kept
    assert len(stored(store)) == rows


def test_a_rejects_file_that_failed_says_so_at_every_flush_after(tiny):
    """Lines were lost with the write that failed: every later flush raises again, so no
    checkpoint saved after it can count their rows (the saver saves rejects first)."""
    from backfill.contract import Reject
    from backfill.errors import OutputFailed
    from backfill.runfiles.rejects import RejectsWriter

    writer = RejectsWriter(tiny / "r.ndjson")
    big = {"note": "x" * 4000}
    with pytest.raises(OutputFailed):
        for row in range(100):  # 400 KB into 64 KiB
            writer.write(Reject("p.csv", row, row + 2, 0, "bad", "mapping", big))
            writer.flush()
    for _ in range(2):
        with pytest.raises(OutputFailed, match="No space left on device"):
            writer.flush()
    writer.close()  # quietly: the failure was said where it happened
