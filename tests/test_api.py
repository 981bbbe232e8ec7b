"""The Python API: `backfill.validate` and `backfill.run` from every kind of source, end to end
against the emulator, with rejects, reports, errors and a resume after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson
import polars as pl
import pyarrow as pa
import pytest
from helpers import ROOT
from helpers.emulated import KEY, SITE, start, stored
from helpers.oracle import canonical, identify_and_event

import backfill
from backfill.emulator import Faults
from backfill.errors import (
    BackfillError,
    CredentialsRefused,
    InputError,
    MappingError,
    Stopped,
    UsageError,
)
from backfill.runfiles.checkpoint import read_checkpoint

MAPPING = {
    "version": 1,
    "operations": [
        {"type": "person", "action": "identify", "identifiers": {"id": "user_id"},
         "attributes": {"email": "email", "plan": "plan"}},
        {"type": "person", "action": "event", "identifiers": {"id": "user_id"},
         "name": {"value": "imported"}, "timestamp": "ts"},
    ],
}
ATTRIBUTES = ["email", "plan"]


def rows(n: int, bad: set[int] = frozenset()) -> list[dict]:
    """Rows of MAPPING's shape; a row in `bad` has a timestamp that is not one."""
    return [{"user_id": f"u{i}", "email": f"u{i}@example.com", "plan": ["free", "pro", ""][i % 3],
             "ts": "yesterday" if i in bad else 1_700_000_000 + i} for i in range(n)]


def good(data: list[dict]) -> list[dict]:
    return [r for r in data if r["ts"] != "yesterday"]


def as_source(kind: str, data: list[dict]):
    """The same rows as each kind of source the API takes (ts as text: a mixed column)."""
    frame = pl.DataFrame([{**r, "ts": str(r["ts"])} for r in data])
    return {
        "DataFrame": lambda: frame,
        "LazyFrame": lambda: frame.lazy(),
        "Arrow table": lambda: frame.to_arrow(),
        "Arrow stream": lambda: pa.RecordBatchReader.from_batches(
            frame.to_arrow().schema, frame.to_arrow().to_batches(max_chunksize=700)),
        "generator": lambda: (dict(r) for r in data),
        "list": lambda: list(data),
    }[kind]()


KINDS = ["DataFrame", "LazyFrame", "Arrow table", "Arrow stream", "generator", "list"]


@pytest.mark.parametrize("kind", KINDS)
def test_validate_from_each_kind_of_source(tmp_path, kind):
    data = rows(2_000, bad={5, 1_500})
    report = backfill.validate(MAPPING, as_source(kind, data), rejects=tmp_path / "rejects",
                               dump_batches=tmp_path / "bodies")
    assert (report.rows_read, report.rows_rejected, report.exit_code) == (2_000, 2, 1)
    assert report.operations_packed == 2 * 1_998
    sent = [op for line in (tmp_path / "bodies").read_bytes().splitlines()
            for op in orjson.loads(line)["batch"]]
    assert sorted(map(canonical, sent)) == sorted(identify_and_event(good(data),
                                                                     ATTRIBUTES).elements())
    rejects = [orjson.loads(x) for x in (tmp_path / "rejects").read_bytes().splitlines()]
    assert [(r["row"], r["line"], r["stage"]) for r in rejects] == [(5, None, "mapping"),
                                                                    (1_500, None, "mapping")]
    assert "yesterday" in rejects[0]["reason"] and rejects[0]["record"]["user_id"] == "u5"


@pytest.mark.parametrize("kind", ["DataFrame", "LazyFrame", "Arrow table", "generator"])
def test_run_from_each_kind_of_source_reaches_the_emulator(tmp_path, kind):
    data = rows(3_000, bad={7})
    emu, store = start(tmp_path)
    try:
        report = backfill.run(MAPPING, as_source(kind, data), site_id=SITE, api_key=KEY,
                              endpoint=emu.url, rejects=tmp_path / "rejects.ndjson")
    finally:
        emu.stop()
    assert stored(store) == identify_and_event(good(data), ATTRIBUTES)
    assert report.rows_read == 3_000 and report.rows_rejected == 1 and report.exit_code == 1
    assert report.operations_delivered == 2 * 2_999 and report.requests >= 1
    [reject] = [orjson.loads(x) for x in (tmp_path / "rejects.ndjson").read_bytes().splitlines()]
    assert reject["row"] == 7 and reject["stage"] == "mapping"


def test_a_generator_is_read_a_chunk_at_a_time(tmp_path):
    produced = 0

    def generate():  # 12 chunks of 50,000: about 7 are in flight when the first body is out
        nonlocal produced
        for i in range(600_000):
            produced += 1
            yield {"user_id": f"u{i}", "email": "e", "plan": "", "ts": 1_700_000_000}

    seen_at_first_body: list[int] = []

    class Dump:
        def write(self, body: bytes) -> None:
            if not seen_at_first_body:
                seen_at_first_body.append(produced)

    report = backfill.validate(MAPPING, generate(), dump_batches=Dump())
    assert report.rows_read == 600_000 and produced == 600_000
    assert seen_at_first_body[0] <= 450_000  # the first bodies came long before the end


def test_items_that_are_not_dicts_are_rejected_and_the_rest_go_on(tmp_path):
    items = [*rows(3), ["not", "a", "dict"], *rows(2)]
    report = backfill.validate(MAPPING, items, rejects=tmp_path / "r.ndjson")
    assert (report.rows_read, report.rows_rejected, report.operations_packed) == (6, 1, 10)
    [reject] = [orjson.loads(x) for x in (tmp_path / "r.ndjson").read_bytes().splitlines()]
    assert reject["row"] == 3 and reject["stage"] == "read"
    assert reject["reason"] == "item is a list, not a dict"


def test_mapping_as_yaml_text_path_or_dict_gives_the_same_operations(tmp_path):
    text = """\
version: 1
operations:
  - type: person
    action: identify
    identifiers: {id: user_id}
    attributes: {email: email, plan: plan}
  - type: person
    action: event
    identifiers: {id: user_id}
    name: {value: imported}
    timestamp: ts
"""
    path = tmp_path / "m.yaml"
    path.write_text(text)
    frame = pl.DataFrame(rows(50))
    dumps = []
    for i, mapping in enumerate((text, path, str(path), MAPPING)):
        backfill.validate(mapping, frame, dump_batches=tmp_path / f"b{i}")
        dumps.append((tmp_path / f"b{i}").read_bytes())
    assert dumps[0] and len(set(dumps)) == 1


def test_errors_carry_the_cli_exit_codes_and_say_what_to_do(tmp_path):
    broken = {**MAPPING, "operations": [{**MAPPING["operations"][0], "atributes": {}}]}
    with pytest.raises(MappingError) as exc:
        backfill.validate(broken, rows(1))
    assert exc.value.exit_code == 2 and "atributes" in str(exc.value)
    with pytest.raises(MappingError, match="did you mean"):
        backfill.validate(MAPPING, pl.DataFrame({"user_id": ["1"], "emial": ["x"],
                                                 "plan": [""], "ts": [1]}))
    with pytest.raises(InputError) as missing:
        backfill.validate(MAPPING, tmp_path / "nope.csv")
    assert missing.value.exit_code == 2 and "no such file" in str(missing.value)
    with pytest.raises(UsageError, match="read once"):
        backfill.run(MAPPING, iter(rows(3)), site_id="s", api_key="k",
                     checkpoint=tmp_path / "cp.json")
    with pytest.raises(UsageError, match="credentials missing"):
        backfill.run(MAPPING, rows(3), site_id="", api_key="")
    with pytest.raises(UsageError, match="not a source"):
        backfill.validate(MAPPING, 42)
    assert issubclass(CredentialsRefused, Stopped) and Stopped.exit_code == 3
    assert CredentialsRefused.exit_code == 4  # resumable once the credentials are fixed
    assert all(issubclass(c, BackfillError) for c in (UsageError, InputError, Stopped))


def test_refused_credentials_stop_with_exit_code_4(tmp_path, emulator):
    emu = emulator
    with pytest.raises(CredentialsRefused) as exc:
        backfill.run(MAPPING, rows(10), site_id=SITE, api_key="wrong", endpoint=emu.url)
    assert exc.value.exit_code == 4 and "refused the credentials" in str(exc.value)


def test_a_dataframe_resumes_only_against_the_same_rows(tmp_path, emulator):
    frame = pl.DataFrame(rows(20))
    checkpoint = tmp_path / "frame.checkpoint.json"
    emu, store = emulator, emulator.emulator.store
    first = backfill.run(MAPPING, frame, site_id=SITE, api_key=KEY, endpoint=emu.url,
                         checkpoint=checkpoint)
    cp = read_checkpoint(checkpoint)
    assert cp.finished and cp.inputs[0]["rows"] == 20 and cp.done[0].count() == 20
    cp.finished = False  # as if the run had stopped: a resume checks the rows
    checkpoint.write_bytes(cp.to_bytes())
    with pytest.raises(UsageError, match="its content"):
        backfill.run(MAPPING, frame.with_columns(pl.lit("x").alias("plan")), site_id=SITE,
                     api_key=KEY, endpoint=emu.url, checkpoint=checkpoint)
    again = backfill.run(MAPPING, frame, site_id=SITE, api_key=KEY, endpoint=emu.url,
                         checkpoint=checkpoint)
    assert first.operations_delivered == 40 and first.exit_code == 0
    assert again.resumed and again.rows_skipped == 20 and again.rows_read == 0
    assert stored(store) == identify_and_event(rows(20), ATTRIBUTES)


KILLED_RUN = """
import sys, backfill
backfill.run(sys.argv[1], sys.argv[2], site_id=sys.argv[3], api_key=sys.argv[4],
             endpoint=sys.argv[5], rate=2, concurrency=1)
"""


def test_a_killed_run_resumes_from_its_file_with_nothing_lost(tmp_path):
    data = rows(30_000)
    csv = tmp_path / "people.csv"
    pl.DataFrame(data).write_csv(csv)
    mapping = tmp_path / "m.yaml"
    mapping.write_text(orjson.dumps(MAPPING).decode())  # JSON is YAML
    checkpoint = tmp_path / "people.csv.checkpoint.json"
    emu, store = start(tmp_path, faults=Faults(latency_ms=(20, 60), seed=3))
    try:
        proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(mapping), str(csv), SITE,
                                 KEY, emu.url], cwd=ROOT, env={**os.environ},
                                stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # killed once part of it is delivered and saved
            cp = read_checkpoint(checkpoint) if checkpoint.exists() else None
            if cp is not None and cp.done[0].count() > 0:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        before = read_checkpoint(checkpoint)
        assert before is not None and not before.finished and before.done[0].count() < 30_000
        report = backfill.run(str(mapping), str(csv), site_id=SITE, api_key=KEY,
                              endpoint=emu.url)
    finally:
        emu.stop()
    assert report.resumed and report.exit_code == 0 and report.rows_skipped > 0
    assert report.rows_read + report.rows_skipped == 30_000 and report.rows_done == 30_000
    want, got = identify_and_event(rows(30_000), ATTRIBUTES), stored(store)
    assert set(got) == set(want)  # nothing lost, nothing unexpected (in flight: sent twice)
    assert read_checkpoint(checkpoint).finished


def test_importing_backfill_changes_nothing_in_the_process():
    code = ("import os, sys; before = dict(os.environ); import backfill; "
            "assert dict(os.environ) == before; assert 'polars' not in sys.modules; "
            "print(sorted(backfill.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.strip() == str(sorted([
        "BackfillError", "InputError", "Interrupted", "MappingError", "Nightly", "Refused",
        "Reject", "Report", "Sending", "Stopped", "UsageError", "arun", "errors", "init", "load",
        "run", "validate", "__version__"]))


def test_source_path_is_read_from_the_mappings_folder(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "p.csv").write_text("user_id\nu1\nu2\n")
    mapping = tmp_path / "configs" / "m.yaml"
    mapping.write_text("version: 1\nsource: {path: ../data/p.csv}\noperations:\n"
                       "  - type: person\n    action: identify\n    identifiers: {id: user_id}\n")
    for cwd in (tmp_path, tmp_path / "configs", ROOT):
        monkeypatch.chdir(cwd)
        report = backfill.validate(mapping, rejects=tmp_path / "r.ndjson")
        assert report.rows_read == 2 and not report.warnings


def test_a_path_found_only_from_the_current_folder_is_used_and_said(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "p.csv").write_text("user_id\nu1\n")
    mapping = tmp_path / "configs" / "m.yaml"
    mapping.write_text("version: 1\nsource: {path: p.csv}\noperations:\n"
                       "  - type: person\n    action: identify\n    identifiers: {id: user_id}\n")
    monkeypatch.chdir(tmp_path)
    report = backfill.validate(mapping, rejects=tmp_path / "r.ndjson")
    assert report.rows_read == 1
    assert any("Write it as '../p.csv'" in w for w in report.warnings)
