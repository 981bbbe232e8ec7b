"""What a scheduler sees: without a terminal a progress line every --log-every seconds (text or
JSON lines, the final report last), --empty fail for an export that must never be empty, and the
Python face: bad numbers are usage errors, `py.typed` ships."""

from __future__ import annotations

import importlib.resources
import os
import subprocess
import sys

import orjson
import pytest
from helpers import ROOT, write
from helpers.emulated import KEY, SITE, start

import backfill
from backfill.errors import InputError, UsageError

MAPPING = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
           "    identifiers: {id: user_id}\n")
ENV = {**os.environ, "CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}


def slow_run(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    mapping = write(tmp_path / "m.yaml", MAPPING)
    data = write(tmp_path / "p.csv", "user_id\n" + "".join(f"u{i}\n" for i in range(40_000)))
    emu, _ = start(tmp_path)
    try:  # about 2 s: 7 bodies at 4 a second; stderr is a pipe, as under a scheduler
        return subprocess.run([sys.executable, "-m", "backfill", "run", str(mapping), str(data),
                               "--endpoint", emu.url, "--rate", "4", "--concurrency", "1",
                               "--log-every", "0.5", *extra], env=ENV, cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    finally:
        emu.stop()


def test_without_a_terminal_progress_is_a_line_every_few_seconds(tmp_path):
    done = slow_run(tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("progress: ")]
    assert len(lines) >= 2, done.stderr
    assert "rows and" in lines[-1] and "requests/s" in lines[-1]


def test_json_logs_are_objects_a_line_and_the_report_is_the_last(tmp_path):
    done = slow_run(tmp_path, "--log-format", "json")
    assert done.returncode == 0, done.stderr
    progress = [orjson.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert len(progress) >= 2 and all(p["event"] == "progress" for p in progress)
    assert {"rows_done", "requests_per_s", "eta_s"} <= set(progress[-1])
    last = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert last["event"] == "report" and last["exit_code"] == 0
    assert last["operations_delivered"] == 40_000


def test_quiet_says_no_progress(tmp_path):
    done = slow_run(tmp_path, "--quiet")
    assert done.returncode == 0 and "progress: " not in done.stderr


def test_an_empty_export_fails_when_asked_and_warns_by_default(tmp_path, emulator):
    mapping = write(tmp_path / "m.yaml", MAPPING)
    data = write(tmp_path / "p.csv", "user_id\n")
    emu, store = emulator, emulator.emulator.store
    args = [sys.executable, "-m", "backfill", "run", str(mapping), str(data), "--endpoint",
            emu.url, "--quiet"]
    warned = subprocess.run(args, env=ENV, cwd=ROOT, capture_output=True, text=True)
    failed = subprocess.run([*args, "--empty", "fail"], env=ENV, cwd=ROOT,
                            capture_output=True, text=True)
    assert warned.returncode == 0, warned.stderr
    assert "no rows in" in warned.stdout and "--empty fail" in warned.stdout
    assert failed.returncode == 2, failed.stderr
    assert "has no rows" in failed.stderr and "nothing was sent" in failed.stderr
    assert store.operations == 0


@pytest.mark.parametrize(("option", "value"), [("rate", 0), ("rate", -5), ("concurrency", 0),
                                               ("retries", 0), ("max_wait", -1)])
def test_bad_numbers_from_python_are_usage_errors(option, value):
    with pytest.raises(UsageError, match=f"{option}="):
        backfill.run(MAPPING, [{"user_id": "u1"}], site_id="s", api_key="k",
                     endpoint="http://127.0.0.1:9", **{option: value})


def test_empty_and_log_format_are_checked_too():
    with pytest.raises(UsageError, match="empty='never'"):
        backfill.run(MAPPING, [{"user_id": "u1"}], site_id="s", api_key="k", empty="never")
    assert issubclass(InputError, backfill.errors.BackfillError)


def test_the_package_says_it_is_typed():
    assert importlib.resources.files("backfill").joinpath("py.typed").is_file()


def test_a_report_names_no_rejects_file_that_was_not_written(tmp_path):
    data = write(tmp_path / "p.csv", "user_id\nu1\n")
    clean = backfill.validate(MAPPING, [str(data)])
    assert clean.rows_rejected == 0 and clean.rejects_path is None
    assert clean.to_dict()["rejects_file"] is None
    assert not (tmp_path / "p.csv.validate.rejects.ndjson").exists()
    assert backfill.Reject.__name__ == "Reject"  # the rejects file's lines, exported


def test_python_callers_read_their_parameters_and_the_command_line_its_flags(tmp_path):
    from click.testing import CliRunner

    from backfill.cli import cli

    with pytest.raises(UsageError) as python:
        backfill.run(MAPPING, [{"user_id": "u1"}], site_id="", api_key="")
    assert "site_id= and api_key=" in str(python.value) and "--site-id" not in str(python.value)
    with pytest.raises(UsageError) as needs_state:
        backfill.run(MAPPING, [{"user_id": "u1"}], site_id="s", api_key="k", full=True)
    assert "full=True needs a state: pass state=PATH" in str(needs_state.value)
    mapping = write(tmp_path / "m.yaml", MAPPING)
    data = write(tmp_path / "p.csv", "user_id\nu1\n")
    result = CliRunner().invoke(cli, ["run", str(mapping), str(data), "--full"],
                                env={"CUSTOMERIO_SITE_ID": "s", "CUSTOMERIO_API_KEY": "k"})
    assert result.exit_code == 2 and "--full needs a state: pass --state PATH" in result.output
    with pytest.raises(UsageError) as after:  # the command line's words do not stay behind
        backfill.run(MAPPING, [{"user_id": "u1"}], site_id="", api_key="")
    assert "site_id=" in str(after.value)
