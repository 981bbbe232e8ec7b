from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner
from helpers import write

from backfill.cli import cli

MAPPING = """\
version: 1
operations:
  - type: person
    action: identify
    identifiers: {id: user_id}
    attributes:
      zip: zip
      seats: {column: seats, as: int}
"""


@pytest.fixture
def files(tmp_path):
    m = write(tmp_path / "m.yaml", MAPPING)
    good = write(tmp_path / "good.csv", "user_id,zip,seats\n1,02134,3\n2,00501,4\n")
    bad = write(tmp_path / "bad.csv", "user_id,zip,seats\n1,02134,three\n2,00501\n3,1,1\n")
    return tmp_path, m, good, bad


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_clean_input_exits_0_with_a_summary(files):
    tmp, m, good, _ = files
    result = run("validate", m, good, "--report", tmp / "r.json", "--dump-batches", tmp / "b")
    assert result.exit_code == 0, result.output
    assert "2 rows read" in result.output and "person identify: 2" in result.output
    report = orjson.loads((tmp / "r.json").read_bytes())
    for key in ("rows_read", "rows_skipped", "rows_rejected", "operations_delivered",
                "operations_rejected", "requests", "retries", "batches", "bytes_sent",
                "fill_ratio", "elapsed_s", "exit_code"):
        assert key in report
    assert report["rows_read"] == 2 and report["exit_code"] == 0 and report["batches"] == 1
    body = orjson.loads((tmp / "b").read_bytes())
    assert body["batch"][0] == {"type": "person", "identifiers": {"id": "1"},
                                "action": "identify", "attributes": {"zip": "02134", "seats": 3}}
    assert report["bytes_packed"] == len((tmp / "b").read_bytes()) - 1
    assert not (tmp / "good.csv.rejects.ndjson").exists()


def test_rejects_exit_1_and_are_written(files):
    tmp, m, _, bad = files
    result = run("validate", m, bad)
    assert result.exit_code == 1, result.output
    lines = [orjson.loads(x) for x in (tmp / "bad.csv.validate.rejects.ndjson").read_bytes().splitlines()]
    assert [(r["row"], r["line"], r["stage"]) for r in lines] == [(1, 3, "read"),
                                                                 (0, 2, "mapping")]
    assert lines[1]["record"] == {"user_id": "1", "zip": "02134", "seats": "three"}
    assert "[mapping] 1 row: " in result.output and "[read] 1 row: too few fields" in result.output
    assert "1 row mapped, 2 rejected" in result.output


def test_mapping_error_exits_2_with_lines_and_no_traceback(files):
    tmp, _, good, _ = files
    m = write(tmp / "bad.yaml", MAPPING.replace("user_id", "userid").replace("as: int", "as: num"))
    result = run("validate", m, good)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "bad.yaml:8:" in result.output and "'as: num' is not one of" in result.output
    m2 = write(tmp / "cols.yaml", MAPPING.replace("user_id", "userid"))
    result = run("validate", m2, good)
    assert result.exit_code == 2
    assert "column 'userid' is not in" in result.output and "did you mean 'user_id'" in result.output


def test_missing_input_and_missing_mapping_exit_2(files):
    tmp, m, _, _ = files
    result = run("validate", m, tmp / "nope.csv")
    assert result.exit_code == 2 and "no such file" in result.output
    result = run("validate", tmp / "nope.yaml", tmp / "good.csv")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_help_has_an_example():
    result = run("validate", "--help")
    assert result.exit_code == 0 and "Example" in result.output


@pytest.mark.parametrize("command", ["validate", "run", "init", "status", "emulator", "demo"])
def test_help_shows_its_examples_one_a_line(command):
    """click rewraps a paragraph unless `\\b` starts one of its own: the examples would run
    together into one wrapped line."""
    result = run(command, "--help")
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() in ("Examples:", "Example:"))
    assert lines[at + 1].strip().startswith(("backfill ", "export "))
    assert lines[at + 1].startswith("    ")


def test_sample_data_validates_with_its_known_bad_rows(root, tmp_path, monkeypatch):
    monkeypatch.chdir(root)
    result = run("validate", "configs/people.yaml", "--rejects", tmp_path / "r.ndjson",
                 "--report", tmp_path / "rep.json")
    assert result.exit_code == 1, result.output
    report = orjson.loads((tmp_path / "rep.json").read_bytes())
    assert report["rows_read"] == 3002 and report["rows_rejected"] == 7
    assert report["rejects_by_stage"] == {"read": 2, "mapping": 3, "limits": 2}


def test_stdin_input(files):
    tmp, m, _, _ = files
    result = CliRunner().invoke(cli, ["validate", str(m), "-", "--rejects", str(tmp / "r"),
                                      "--dump-batches", str(tmp / "b")],
                                input=b"user_id,zip,seats\n7,00501,1\n")
    assert result.exit_code == 0, result.output
    assert orjson.loads((tmp / "b").read_bytes())["batch"][0]["identifiers"] == {"id": "7"}


def test_python_dash_m_is_the_same_program(root):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "backfill", "--help"], capture_output=True,
                         text=True, cwd=root, check=True)
    assert "validate" in out.stdout
