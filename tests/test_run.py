"""`backfill run` end to end against the real emulator on loopback."""

from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner
from helpers import write
from helpers.emulated import KEY, run, start, stored
from helpers.oracle import csv_rows, identify_and_event

from backfill.cli import cli
from backfill.emulator import Faults

MAPPING = """\
version: 1
operations:
  - type: person
    action: identify
    identifiers: {id: user_id}
    attributes: {email: email, bio: bio}
  - type: person
    action: event
    identifiers: {id: user_id}
    name: {value: imported}
    timestamp: ts
"""


def people(n: int, bad_email_at: int | None = None) -> str:
    lines = ["user_id,email,bio,ts"]
    for i in range(n):
        lines.append(f"u{i},u{i}@example.com,{'x' * (i % 300)},{1700000000 + i}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def job(tmp_path):
    mapping = write(tmp_path / "m.yaml", MAPPING)
    data = write(tmp_path / "people.csv", people(6000))
    return tmp_path, mapping, data


def test_every_expected_operation_is_stored_and_nothing_else(job):
    tmp, mapping, data = job
    emu, store = start(tmp)
    try:
        result = run(emu, mapping, [data], "--report", tmp / "r.json")
    finally:
        emu.stop()
    assert result.exit_code == 0, result.output
    assert stored(store) == identify_and_event(csv_rows(data), ["email", "bio"])
    report = orjson.loads((tmp / "r.json").read_bytes())
    assert report["rows_read"] == 6000 and report["operations_delivered"] == 12000
    assert report["requests"] == report["batches"] > 1 and report["exit_code"] == 0
    assert orjson.loads((tmp / "people.csv.checkpoint.json").read_bytes())["finished"]


def test_a_finished_checkpoint_does_not_block_a_new_run(job):
    tmp, mapping, data = job
    emu, _ = start(tmp)
    try:
        assert run(emu, mapping, [data]).exit_code == 0
        write(data, people(10))  # tonight's export at the same path
        result = run(emu, mapping, [data])
    finally:
        emu.stop()
    assert result.exit_code == 0, result.output
    assert "10 rows read" in result.output and "kept as" in result.output
    assert len(list(tmp.glob("people.csv.checkpoint.*.json"))) == 1


def test_wrong_credentials_stop_at_once_with_exit_4(job):
    tmp, mapping, data = job
    emu, store = start(tmp)
    try:
        result = run(emu, mapping, [data], key="wrong-key-QQQ")
    finally:
        emu.stop()
    assert result.exit_code == 4
    assert "CUSTOMERIO_SITE_ID" in result.output and "CUSTOMERIO_API_KEY" in result.output
    assert store.operations == 0 and store.requests <= 8
    assert "wrong-key-QQQ" not in result.output


def test_refused_operations_become_api_rejects_and_the_rest_is_delivered(tmp_path):
    mapping = write(tmp_path / "m.yaml", "version: 1\noperations:\n  - {type: person, "
                    "action: identify, identifiers: {email: email}}\n")
    data = write(tmp_path / "p.csv", "email\na@x.com\nnot-an-email\nb@x.com\n")
    for invalid in ("207", "400"):
        emu, store = start(tmp_path / invalid, invalid=invalid)
        try:
            result = run(emu, mapping, [data], "--restart", "--rejects",
                         tmp_path / f"{invalid}.rejects")
        finally:
            emu.stop()
        assert result.exit_code == 1, result.output
        assert store.operations == 2
        [reject] = [orjson.loads(x) for x in
                    (tmp_path / f"{invalid}.rejects").read_bytes().splitlines()]
        assert reject["stage"] == "api" and reject["row"] == 1
        assert "not an email address" in reject["reason"]
        assert reject["record"]["identifiers"] == {"email": "not-an-email"}
        assert "1 refused by the API" in result.output


def test_413_splits_until_the_bodies_fit(job):
    tmp, mapping, data = job
    emu, store = start(tmp, max_body=60_000)
    try:
        result = run(emu, mapping, [data], "--report", tmp / "r.json")
    finally:
        emu.stop()
    assert result.exit_code == 0, result.output
    assert stored(store) == identify_and_event(csv_rows(data), ["email", "bio"])
    report = orjson.loads((tmp / "r.json").read_bytes())
    assert report["requests"] > 2 * report["batches"]


def test_throttling_and_failures_are_retried_and_retry_after_honoured(job):
    tmp, mapping, data = job
    emu, store = start(tmp, faults=Faults(fail_rate=0.2, throttle_rate=0.2, drop_rate=0.05,
                                          retry_after=0.2, seed=3))
    try:
        result = run(emu, mapping, [data], "--report", tmp / "r.json")
    finally:
        emu.stop()
    assert result.exit_code == 0, result.output
    got, want = stored(store), identify_and_event(csv_rows(data), ["email", "bio"])
    assert set(got) == set(want)
    report = orjson.loads((tmp / "r.json").read_bytes())
    assert report["retries"] > 0 and store.statuses[429] > 0


def test_retries_exhausted_stop_with_exit_3_and_the_same_command_finishes(job):
    tmp, mapping, data = job
    emu, store = start(tmp, faults=Faults(fail_rate=1.0, seed=1))
    try:
        result = run(emu, mapping, [data], "--retries", "2")
        assert result.exit_code == 3, result.output
        assert "failed 2 times" in result.output and "to resume" in result.output
        assert "backfill run" in result.output and KEY not in result.output
        emu.emulator.faults.fail_rate = 0.0
        again = run(emu, mapping, [data], "--retries", "2")
    finally:
        emu.stop()
    assert again.exit_code == 0, again.output
    assert set(stored(store)) == set(identify_and_event(csv_rows(data), ["email", "bio"]))


def test_an_unfinished_checkpoint_refuses_a_changed_input(job):
    tmp, mapping, data = job
    emu, _ = start(tmp, faults=Faults(fail_rate=1.0, seed=1))
    try:
        assert run(emu, mapping, [data], "--retries", "1").exit_code == 3
        write(data, people(7000))
        result = run(emu, mapping, [data])
    finally:
        emu.stop()
    assert result.exit_code == 2
    assert "unfinished run" in result.output and "changed (its size)" in result.output
    assert "--restart" in result.output


def run_to_the_end(tmp, mapping, data) -> None:
    emu, _ = start(tmp)
    try:
        assert run(emu, mapping, [data]).exit_code == 0
    finally:
        emu.stop()


@pytest.mark.parametrize("how", ["resume", "new run", "restart"])
def test_a_job_begun_by_backfill_0_2_keeps_its_event_ids(job, how):
    """Events sent again (in flight when 0.2 stopped, or tonight's same export after 0.2's last
    run, or a --restart) get 0.2's ids, so the API drops them as repeats."""
    tmp, mapping, data = job
    run_to_the_end(tmp, mapping, data)
    checkpoint = tmp / "people.csv.checkpoint.json"
    old = orjson.loads(checkpoint.read_bytes())
    assert old.pop("event_ids") == "auto"  # as 0.2 wrote it: no event_ids
    old["finished"] = how == "new run"
    old["inputs"][0]["done"] = {"watermark": 3000, "ranges": []}
    checkpoint.write_bytes(orjson.dumps(old))
    emu, store = start(tmp / "again")
    try:
        result = run(emu, mapping, [data], *(["--restart"] if how == "restart" else []))
    finally:
        emu.stop()
    assert result.exit_code == 0, result.output
    assert "keep backfill 0.2's ids (auto-v1)" in result.output
    sent = csv_rows(data)[3000:] if how == "resume" else csv_rows(data)
    assert stored(store) == identify_and_event(sent, ["email", "bio"], scheme="auto-v1")
    assert orjson.loads(checkpoint.read_bytes())["event_ids"] == "auto-v1"
    said = CliRunner().invoke(cli, ["status", str(checkpoint)]).output
    assert "dedupe_id: auto events get BLAKE2b ids (auto-v1)" in said


def test_credentials_never_reach_any_artefact(job):
    tmp, mapping, data = job
    emu, _ = start(tmp, faults=Faults(fail_rate=1.0, seed=1))
    try:
        result = run(emu, mapping, [data], "--retries", "1", "--report", tmp / "r.json")
    finally:
        emu.stop()
    assert KEY not in result.output
    for path in tmp.iterdir():
        if path.suffix != ".sqlite" and path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_status_prints_what_the_checkpoint_holds(job):
    tmp, mapping, data = job
    run_to_the_end(tmp, mapping, data)
    result = CliRunner().invoke(cli, ["status", str(tmp / "people.csv.checkpoint.json")])
    assert result.exit_code == 0
    assert "finished run" in result.output and "6,000 rows done" in result.output


def test_the_rate_is_never_exceeded_in_any_second(job):
    tmp, mapping, data = job
    emu, store = start(tmp, max_body=40_000)  # 413 splits make many small requests
    try:
        result = run(emu, mapping, [data], "--rate", "40", "--concurrency", "8")
    finally:
        emu.stop()
    assert result.exit_code == 0, result.output
    assert store.requests > 80  # more than two seconds' worth
    assert store.stats()["max_per_second"] <= 40


def test_region_auto_asks_the_account_region(job, monkeypatch):
    from click.testing import CliRunner

    from backfill.cli import cli
    from backfill.delivery import endpoint

    tmp, mapping, data = job
    emu, store = start(tmp)
    monkeypatch.setitem(endpoint.REGIONS, "us", emu.url)  # where the lookup goes first
    try:
        result = CliRunner().invoke(
            cli, ["run", str(mapping), str(data), "--region", "auto", "--quiet"],
            env={"CUSTOMERIO_SITE_ID": "test-site", "CUSTOMERIO_API_KEY": KEY,
                 "BACKFILL_ENDPOINT": None})
    finally:
        emu.stop()
    assert result.exit_code == 0, result.output
    assert store.operations == 12000
