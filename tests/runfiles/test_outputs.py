"""Outputs touch only themselves: a planted symlink is never written through (rejects, locks,
dumps), an output naming an input is a usage error, every output is 0600, a resumed rejects
file ends with whole lines, and validate never replaces a run's record."""

from __future__ import annotations

import os
import stat
import subprocess

import orjson
import pytest
from click.testing import CliRunner
from helpers import write
from helpers.emulated import KEY, SITE, run, start, stored

from backfill.cli import cli
from backfill.runfiles.checkpoint import RowSet, read_checkpoint, save
from backfill.runfiles.outputs import whole_lines

MAPPING = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
           "    identifiers: {id: user_id}\n    attributes: {seats: {column: seats, as: int}}\n")
ENV = {"CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}


@pytest.fixture
def job(tmp_path):
    mapping = write(tmp_path / "m.yaml", MAPPING)
    rows = "".join(f"u{i},{'x' if i % 10 == 3 else i}\n" for i in range(200))
    data = write(tmp_path / "p.csv", "user_id,seats\n" + rows)
    victim = write(tmp_path / "precious.txt", "do not touch\n")
    return tmp_path, mapping, data, victim


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("planted", ["p.csv.rejects.ndjson", "p.csv.checkpoint.json.lock",
                                     "p.state.lock"])
def test_a_planted_symlink_is_never_followed(job, planted):
    tmp, mapping, data, victim = job
    os.symlink(victim, tmp / planted)
    emu, store = start(tmp)
    try:
        result = run(emu, mapping, [data], "--state", tmp / "p.state")
    finally:
        emu.stop()
    assert result.exit_code == 2, result.output
    assert "is a symbolic link" in result.output and "Traceback" not in result.output
    assert victim.read_text() == "do not touch\n" and os.path.islink(tmp / planted)
    assert store.operations == 0


def test_validate_refuses_a_symlink_at_its_rejects_and_dump(job):
    tmp, mapping, data, victim = job
    for option, name in (("--rejects", "r.ndjson"), ("--dump-batches", "bodies")):
        os.symlink(victim, tmp / name)
        result = CliRunner().invoke(cli, ["validate", str(mapping), str(data), option,
                                          str(tmp / name)])
        assert result.exit_code == 2, result.output
        assert "symbolic link" in result.output and victim.read_text() == "do not touch\n"


@pytest.mark.parametrize("option", ["--rejects", "--checkpoint", "--report", "--state"])
def test_an_output_naming_the_input_is_a_usage_error(job, option):
    tmp, mapping, data, _ = job
    before = data.read_bytes()
    emu, store = start(tmp)
    try:
        result = run(emu, mapping, [data], option, data)
        again = run(emu, mapping, [data], option, mapping)  # the mapping is an input too
    finally:
        emu.stop()
    for each in (result, again):
        assert each.exit_code == 2, each.output
        assert "is an input of this run" in each.output
    assert data.read_bytes() == before and store.operations == 0


def test_validate_refuses_to_dump_over_its_input(job):
    tmp, mapping, data, _ = job
    before = data.read_bytes()
    for option in ("--dump-batches", "--rejects", "--report"):
        result = CliRunner().invoke(cli, ["validate", str(mapping), str(data), option,
                                          str(data)])
        assert result.exit_code == 2 and "is an input of this run" in result.output, option
    assert data.read_bytes() == before


def test_every_output_is_readable_by_its_owner_only(job):
    tmp, mapping, data, _ = job
    os.umask(0o022)
    emu, _ = start(tmp)
    try:
        result = run(emu, mapping, [data], "--report", tmp / "report.json")
    finally:
        emu.stop()
    assert result.exit_code == 1, result.output
    validated = CliRunner().invoke(cli, ["validate", str(mapping), str(data), "--dump-batches",
                                         str(tmp / "bodies")])
    assert validated.exit_code == 1, validated.output
    for name in ("p.csv.rejects.ndjson", "p.csv.checkpoint.json", "report.json", "bodies",
                 "p.csv.validate.rejects.ndjson", "emulator.sqlite", "p.csv.checkpoint.json.lock"):
        assert mode(tmp / name) == 0o600, name


def test_an_older_rejects_file_becomes_private_when_appended(job):
    tmp, mapping, data, _ = job
    rejects = write(tmp / "r.ndjson", "")
    os.chmod(rejects, 0o644)
    CliRunner().invoke(cli, ["validate", str(mapping), str(data), "--rejects", str(rejects)])
    assert mode(rejects) == 0o600


def test_a_torn_last_line_is_cut_before_a_resume_appends(tmp_path):
    path = write(tmp_path / "r.ndjson", b'{"row": 1}\n{"row": 2}\n{"row": 3, "rea')
    assert whole_lines(path) == len(b'{"row": 3, "rea')
    assert path.read_bytes() == b'{"row": 1}\n{"row": 2}\n'
    assert whole_lines(path) == 0 and whole_lines(tmp_path / "none") == 0
    write(path, b"no newline at all")
    whole_lines(path)
    assert path.read_bytes() == b""


def test_a_resumed_run_appends_whole_lines_after_a_torn_one(job):
    tmp, mapping, data, _ = job
    rejects = tmp / "p.csv.rejects.ndjson"
    emu, store = start(tmp)
    try:
        first = run(emu, mapping, [data], "--rate", "1", "--concurrency", "1")
        assert first.exit_code == 1, first.output
        # a run that died half-way through a line: an unfinished checkpoint, a torn line
        checkpoint = tmp / "p.csv.checkpoint.json"
        cp = read_checkpoint(checkpoint)
        cp.finished, cp.done[0] = False, RowSet()
        save(checkpoint, cp)
        rejects.write_bytes(rejects.read_bytes()[:-7])
        second = run(emu, mapping, [data])
    finally:
        emu.stop()
    assert second.exit_code == 1, second.output
    lines = rejects.read_bytes().splitlines()
    assert all(orjson.loads(line) for line in lines)  # every line whole JSON
    assert len(stored(store)) == 180


def test_dumping_into_a_read_only_folder_is_a_usage_error(job, read_only):
    tmp, mapping, data, _ = job
    result = CliRunner().invoke(cli, ["validate", str(mapping), str(data), "--rejects",
                                      str(tmp / "r"), "--dump-batches", str(read_only / "b")])
    assert result.exit_code == 2, result.output
    assert "--dump-batches" in result.output and "Read-only file system" in result.output
    assert "Traceback" not in result.output


def test_validate_never_replaces_a_runs_rejects(job):
    tmp, mapping, data, _ = job
    emu, _ = start(tmp)
    try:
        assert run(emu, mapping, [data]).exit_code == 1
    finally:
        emu.stop()
    record = (tmp / "p.csv.rejects.ndjson").read_bytes()
    result = CliRunner().invoke(cli, ["validate", str(mapping), str(data)])
    assert result.exit_code == 1, result.output
    assert (tmp / "p.csv.rejects.ndjson").read_bytes() == record
    assert "p.csv.validate.rejects.ndjson" in result.output
    assert (tmp / "p.csv.validate.rejects.ndjson").exists()


def test_validate_refuses_the_rejects_of_a_run_in_progress(job):
    import fcntl

    tmp, mapping, data, _ = job
    lock = os.open(tmp / "p.csv.checkpoint.json.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as a run in another process holds it
    try:
        result = CliRunner().invoke(cli, ["validate", str(mapping), str(data), "--rejects",
                                          str(tmp / "p.csv.rejects.ndjson")])
    finally:
        os.close(lock)
    assert result.exit_code == 2, result.output
    assert "the rejects file of a run in progress" in result.output
    assert not (tmp / "p.csv.rejects.ndjson").exists()


def test_a_device_as_the_rejects_file_is_written_never_removed_renamed_or_chmodded(job):
    """`--rejects /dev/null` (here a private copy of it: the same device, made by mknod) is a
    way to keep nothing: validate must not unlink it, a new run must not archive it away,
    and neither may make it 0600."""
    tmp, mapping, data, _ = job
    null = tmp / "null"
    if subprocess.run(["mknod", "-m", "666", str(null), "c", "1", "3"]).returncode != 0:
        pytest.skip("mknod needs root")
    clean = write(tmp / "clean.csv", "user_id,seats\nu1,1\n")
    CliRunner().invoke(cli, ["validate", str(mapping), str(clean), "--rejects", str(null)])
    emu, _ = start(tmp)
    try:
        for _ in range(2):  # the second finds a finished checkpoint: its files are archived
            result = run(emu, mapping, [data], "--rejects", null)
            assert result.exit_code == 1, result.output
    finally:
        emu.stop()
    info = os.lstat(null)
    assert stat.S_ISCHR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o666
    assert not list(tmp.glob("null.*"))
