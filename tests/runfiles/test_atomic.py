"""Outputs in a place that cannot be written are refused before anything is read or sent (exit
2, one line naming the option), instead of failing mid-run with operations delivered and no
checkpoint."""

from __future__ import annotations

import pytest
from helpers import write
from helpers.emulated import run, start

import backfill
from backfill.errors import UsageError
from backfill.runfiles.atomic import check_writable

MAPPING = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
           "    identifiers: {id: user_id}\n")


@pytest.fixture
def job(tmp_path):
    mapping = write(tmp_path / "m.yaml", MAPPING)
    data = write(tmp_path / "p.csv", "user_id\n" + "".join(f"u{i}\n" for i in range(500)))
    emu, store = start(tmp_path)
    yield emu, store, mapping, data
    emu.stop()


@pytest.mark.parametrize("option", ["--checkpoint", "--rejects", "--report"])
def test_run_refuses_an_output_it_cannot_write_before_sending(job, read_only, option):
    emu, store, mapping, data = job
    result = run(emu, mapping, [data], option, read_only / "out")
    assert result.exit_code == 2, result.output
    assert "cannot be written" in result.output and option in result.output
    assert "Traceback" not in result.output
    assert store.operations == 0 and store.requests == 0


def test_validate_refuses_a_rejects_file_it_cannot_write(job, read_only):
    _, _, mapping, data = job
    with pytest.raises(UsageError, match="rejects='.*r.ndjson': its folder cannot be written"):
        backfill.validate(mapping, [data], rejects=read_only / "r.ndjson")


def test_a_missing_folder_is_made_and_urls_are_left_to_their_write(tmp_path):
    check_writable(tmp_path / "new" / "deeper" / "cp.json", "--checkpoint")
    assert (tmp_path / "new" / "deeper").is_dir() and not list((tmp_path / "new" / "deeper")
                                                                .iterdir())
    check_writable("s3://bucket/cp.json", "--checkpoint")  # no request made here
    check_writable(None, "--report")
