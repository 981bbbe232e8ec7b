"""Nightly runs against the emulator: `--state` sends only what changed, `--missing` undoes what
is gone within the circuit breaker, a kill -9 loses nothing, and two runs never overlap."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import orjson
import polars as pl
import pytest
from click.testing import CliRunner
from helpers import ROOT, write
from helpers.emulated import KEY, SITE, start, stored
from helpers.nightly import HEADER, MAPPING, deleted, identify, people  # noqa: E402, F401
from helpers.oracle import event_id

import backfill
from backfill.cli import cli
from backfill.emulator import Faults
from backfill.errors import UsageError
from backfill.nightly import statefile as state_store
from backfill.runfiles.checkpoint import mapping_hash


def night(emu, folder, text, **options):
    data = write(folder / "people.csv", text)
    return backfill.run(folder / "people.yaml", [data], site_id=SITE, api_key=KEY,
                        endpoint=emu.url, state=folder / "people.state", **options)


@pytest.fixture
def job(tmp_path):
    write(tmp_path / "people.yaml", MAPPING)
    emu, store = start(tmp_path)
    yield emu, store, tmp_path
    emu.stop()


def test_three_nights_send_the_baseline_then_only_changes_then_nothing(job):
    emu, store, folder = job
    first = night(emu, folder, people(range(1000)))
    assert (first.rows_new, first.rows_changed, first.rows_unchanged) == (1000, 0, 0)
    assert stored(store) == Counter({identify(i): 1 for i in range(1000)})

    # night 2: 3 rows changed, 2 added, 2 removed (u0, u1)
    ids = [*range(2, 1000), 1000, 1001]
    second = night(emu, folder, people(ids, lambda i: "pro" if i in (10, 20, 30) else "free"),
                   missing="delete")
    assert (second.rows_new, second.rows_changed, second.rows_unchanged) == (2, 3, 995)
    assert second.keys_missing == 2 and second.operations_mirrored == 2
    assert second.operations_delivered == 7 and second.exit_code == 0
    want = Counter({identify(i): 1 for i in range(1002)})
    want.update({identify(i, "pro"): 1 for i in (10, 20, 30)})
    want.update({deleted(0): 1, deleted(1): 1})
    assert stored(store) == want

    # night 3: the same file: nothing sent; the deleted keys are no longer in the state
    third = night(emu, folder, people(ids, lambda i: "pro" if i in (10, 20, 30) else "free"),
                  missing="delete")
    assert third.requests == 0 and third.operations_delivered == 0
    assert (third.rows_unchanged, third.keys_missing) == (1000, 0)
    assert stored(store) == want
    info = state_store.read_info(folder / "people.state")
    assert info is not None and info.keys == 1000 and info.last_run["rows_unchanged"] == 1000


def test_a_changed_mapping_or_full_sends_everything_again(job):
    emu, store, folder = job
    night(emu, folder, people(range(50)))
    full = night(emu, folder, people(range(50)), full=True)
    assert full.operations_delivered == 50
    write(folder / "people.yaml", MAPPING.replace("plan: plan}", "plan: plan, tier: plan}"))
    changed = night(emu, folder, people(range(40)), missing="delete", max_deletes="100%")
    assert changed.operations_delivered == 40 and changed.operations_mirrored == 0
    assert changed.keys_missing is None  # not comparable tonight
    assert any("the mapping changed" in w and "waits for the next night" in w
               for w in changed.warnings)
    assert state_store.read_info(folder / "people.state").keys == 40  # rebuilt from tonight
    again = night(emu, folder, people(range(40)), missing="delete")
    assert again.operations_delivered == 0 and again.keys_missing == 0


def test_the_circuit_breaker_sends_nothing_and_says_how_to_allow_it(job):
    emu, store, folder = job
    night(emu, folder, people(range(200)))
    before = sum(stored(store).values())
    with pytest.raises(UsageError) as refused:
        night(emu, folder, people(range(100, 200), lambda i: "pro"), missing="delete")
    assert refused.value.exit_code == 2
    assert "100 keys" in str(refused.value) and "max_deletes=100" in str(refused.value)
    assert sum(stored(store).values()) == before  # not even the 100 changed rows
    allowed = night(emu, folder, people(range(100, 200), lambda i: "pro"), missing="suppress",
                    max_deletes="50%")
    assert allowed.operations_mirrored == 100 and allowed.rows_changed == 100
    assert stored(store)[deleted(5, "suppress")] == 1


def test_an_empty_input_deletes_nothing(job):
    emu, store, folder = job
    night(emu, folder, people(range(20)))
    report = night(emu, folder, HEADER, missing="delete", max_deletes="100%")
    assert report.operations_mirrored == 0 and report.requests == 0
    assert any("nothing is deleted tonight" in w for w in report.warnings)


def test_operations_the_api_refuses_are_sent_again_the_next_night(job):
    emu, store, folder = job
    write(folder / "people.yaml", MAPPING.replace("{id: user_id}", "{email: email}"))
    text = people(range(30)).replace("u7@example.com", "not-an-email")  # the API refuses it
    first = night(emu, folder, text)
    assert (first.operations_delivered, first.operations_rejected) == (29, 1)
    second = night(emu, folder, text)
    assert (second.operations_delivered, second.operations_rejected) == (0, 1)
    assert second.rows_new == 1 and second.rows_unchanged == 29


ENV = {**os.environ, "CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}


def command(emu, folder, *extra):
    return [sys.executable, "-m", "backfill", "run", str(folder / "people.yaml"),
            str(folder / "people.csv"), "--endpoint", emu.url, "--quiet", "--rate", "1",
            "--concurrency", "2", "--state", str(folder / "people.state"), *extra]


@pytest.mark.slow
def test_kill_9_in_night_2_then_resume_loses_nothing_and_night_3_sends_nothing(tmp_path):
    write(tmp_path / "people.yaml", MAPPING)
    emu, store = start(tmp_path, faults=Faults(latency_ms=(20, 60), seed=3))
    mirror = ["--missing", "delete"]
    try:
        write(tmp_path / "people.csv", people(range(20_000)))
        assert subprocess.run(command(emu, tmp_path), env=ENV, cwd=ROOT).returncode == 0
        ids = range(100, 30_000)  # night 2: u0-u99 gone, 10,000 new, every fifth row changed
        write(tmp_path / "people.csv", people(ids, lambda i: "pro" if i % 5 == 0 else "free"))
        proc = subprocess.Popen(command(emu, tmp_path, *mirror), env=ENV, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3.5)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert store.operations > 20_000  # some of night 2 was delivered before the kill
        resumed = subprocess.run(command(emu, tmp_path, *mirror), env=ENV, cwd=ROOT,
                                 capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stderr
        third = subprocess.run([*command(emu, tmp_path, *mirror), "--report",
                                str(tmp_path / "r.json")],
                               env=ENV, cwd=ROOT, capture_output=True, text=True)
        assert third.returncode == 0, third.stderr
    finally:
        emu.stop()
    report = orjson.loads((tmp_path / "r.json").read_bytes())
    assert report["requests"] == 0 and report["rows_unchanged"] == len(ids)
    assert report["keys_missing"] == 0
    got = stored(store)
    want = {identify(i, "pro" if i % 5 == 0 else "free") for i in ids}
    assert want <= set(got)  # every change delivered
    deletes = {op for op in got if b'"delete"' in op}
    assert deletes == {deleted(i) for i in range(100)}  # exactly the keys gone, never others
    assert set(got) - want - deletes == {identify(i) for i in range(0, 20_000, 5)} | {
        identify(i) for i in range(100)}  # night 1's only


@pytest.mark.slow
def test_a_second_run_on_the_same_checkpoint_exits_2_naming_the_first(tmp_path):
    write(tmp_path / "people.yaml", MAPPING)
    emu, store = start(tmp_path, faults=Faults(latency_ms=(50, 50), seed=3))
    try:
        write(tmp_path / "people.csv", people(range(20_000)))
        first = subprocess.Popen(command(emu, tmp_path), env=ENV, cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.5)
        sent = store.operations
        second = subprocess.run(command(emu, tmp_path), env=ENV, cwd=ROOT, capture_output=True,
                                text=True, timeout=60)
        assert first.poll() is None
        assert second.returncode == 2
        assert f"process {first.pid}" in second.stderr and "nothing was sent" in second.stderr
        first.send_signal(signal.SIGINT)
        first.wait(60)
    finally:
        emu.stop()
    assert store.operations >= sent
    assert max(stored(store).values()) == 1  # had the second sent, rows would be twice


EVENTS = """\
version: 1
operations:
  - type: person
    action: event
    identifiers: {id: user_id}
    name: name
    timestamp: at
"""


def test_the_event_watermark_sends_events_from_the_last_runs_latest_time(job):
    emu, store, folder = job
    write(folder / "events.yaml", EVENTS)

    def events_night(times, **options):
        data = write(folder / "events.ndjson", "".join(
            orjson.dumps({"user_id": f"u{t % 7}", "name": "seen", "at": t}).decode() + "\n"
            for t in times))
        return backfill.run(folder / "events.yaml", [data], site_id=SITE, api_key=KEY,
                            endpoint=emu.url, state=folder / "events.state",
                            event_watermark=True, **options)

    first = events_night(range(1_700_000_000, 1_700_000_100))
    assert first.operations_delivered == 100
    info = state_store.read_info(folder / "events.state")
    assert info is not None and info.keys == 0 and info.event_watermark == 1_700_000_099
    second = events_night(range(1_700_000_050, 1_700_000_150))  # half of it sent before
    assert second.operations_delivered == 51  # from the watermark itself, inclusive
    assert (second.rows_new, second.rows_unchanged) == (51, 49)
    assert state_store.read_info(folder / "events.state").event_watermark == 1_700_000_149
    with pytest.raises(UsageError, match="needs a state"):
        backfill.run(folder / "events.yaml", [folder / "events.ndjson"], site_id=SITE,
                     api_key=KEY, endpoint=emu.url, event_watermark=True)


def test_without_the_watermark_events_are_keyed_by_their_bytes(job):
    emu, store, folder = job
    write(folder / "events.yaml", EVENTS)
    lines = [orjson.dumps({"user_id": "u1", "name": "seen", "at": 1_700_000_000 + t}).decode()
             for t in range(30)]
    run = lambda text: backfill.run(  # noqa: E731
        folder / "events.yaml", [write(folder / "e.ndjson", text)], site_id=SITE, api_key=KEY,
        endpoint=emu.url, state=folder / "e.state")
    assert run("\n".join(lines[:20]) + "\n").operations_delivered == 20
    late = run("\n".join([lines[25], *lines[:20], lines[29]]) + "\n")  # out of order, two new
    assert late.operations_delivered == 2 and late.rows_unchanged == 20


def test_a_state_begun_by_backfill_0_2_keeps_its_event_ids(job):
    """0.2 keyed its events by their bytes, BLAKE2b ids included: tonight's events get the same
    ids, or every one would look new and be sent again (and the API would keep both copies)."""
    emu, store, folder = job
    mapping = write(folder / "events.yaml", EVENTS)
    lines = [orjson.dumps({"user_id": "u1", "name": "seen", "at": 1_700_000_000 + t}).decode()
             for t in range(30)]
    data = write(folder / "e.ndjson", "\n".join(lines[:20]) + "\n")
    state = folder / "e.state"
    # night 1 as 0.2 ran it: its ids (auto-v1), and a state that does not say which ids it holds
    as_02 = write(folder / "v1.yaml", EVENTS + "    dedupe_id: auto-v1\n")
    backfill.run(as_02, [data], site_id=SITE, api_key=KEY, endpoint=emu.url, state=state)
    meta = orjson.loads(pl.read_parquet_metadata(state)[state_store.META])
    meta.pop("event_ids")
    meta["mapping"] = mapping_hash(mapping.read_text())
    pl.read_parquet(state).write_parquet(
        state, metadata={state_store.META: orjson.dumps(meta).decode()})
    assert state_store.read_info(state).event_ids == "auto-v1"

    write(data, "\n".join([*lines[:20], lines[25], lines[29]]) + "\n")  # two new
    second = backfill.run(mapping, [data], site_id=SITE, api_key=KEY, endpoint=emu.url,
                          state=state)
    assert second.operations_delivered == 2 and second.rows_unchanged == 20
    assert any("keep backfill 0.2's ids (auto-v1)" in note for note in second.notes)
    with sqlite3.connect(store.path) as con:
        sent = [orjson.loads(b) for (b,) in con.execute("SELECT body FROM operations")]
    assert len(sent) == 22
    for event in sent:  # every id is 0.2's: the BLAKE2b of the event as sent, without its id
        rest = {k: v for k, v in event.items() if k != "id"}
        assert event["id"] == event_id(rest, "auto-v1")
    assert state_store.read_info(state).event_ids == "auto-v1"


def test_each_nights_rejects_are_kept_with_its_date_and_said_first(job):
    from helpers.emulated import run as cli_run

    emu, store, folder = job
    data = write(folder / "people.csv", people(range(5)) + ",no-id@example.com,free\n")
    for _ in range(2):
        result = cli_run(emu, folder / "people.yaml", [data], "--state", folder / "people.state")
        assert result.exit_code == 1, result.output
    kept = sorted(folder.glob("people.csv.rejects.*.ndjson"))
    assert len(kept) == 1 and (folder / "people.csv.rejects.ndjson").exists()
    assert kept[0].read_bytes() == (folder / "people.csv.rejects.ndjson").read_bytes()
    lines = result.output.splitlines()
    assert lines[0].startswith("note: ") and lines[1].startswith("note: its rejects")
    assert str(kept[0].name) in lines[1] and "rows read" in lines[2]
    status = CliRunner().invoke(cli, ["status", str(folder / "people.state")])
    assert "nightly state of 5 keys" in status.output and "5 unchanged" in status.output


@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_every_shipped_mapping_sends_nothing_the_second_night(config, tmp_path, emulator, monkeypatch):
    monkeypatch.chdir(ROOT)  # the configs name their sample files from the project's root
    emu = emulator
    nights = [backfill.run(ROOT / "configs" / config, site_id=SITE, api_key=KEY,
                           endpoint=emu.url, state=tmp_path / "s.state",
                           checkpoint=tmp_path / "c.json", rejects=tmp_path / "r.ndjson")
              for _ in range(2)]
    assert nights[0].operations_delivered > 0 and nights[0].rows_new > 0
    assert nights[1].requests == 0 and nights[1].rows_unchanged == nights[0].rows_new


def test_a_read_only_state_folder_is_refused_before_anything_is_sent(job, read_only):
    emu, store, folder = job
    with pytest.raises(UsageError, match="cannot be written"):
        backfill.run(folder / "people.yaml", [write(folder / "people.csv", people(range(3)))],
                     site_id=SITE, api_key=KEY, endpoint=emu.url, state=read_only / "s.state")
    assert store.operations == 0


def test_missing_refuses_a_source_that_can_be_read_once_only(job):
    emu, store, folder = job
    rows = ({"user_id": f"u{i}", "email": "e", "plan": "p"} for i in range(3))
    with pytest.raises(UsageError, match="read once only"):
        backfill.run(folder / "people.yaml", rows, site_id=SITE, api_key=KEY, endpoint=emu.url,
                     state=folder / "s.state", missing="delete")
    assert store.operations == 0


def test_the_mapping_fingerprint_is_of_its_meaning_not_its_text(job):
    emu, _, folder = job
    from backfill.runfiles.checkpoint import text_hash

    first = night(emu, folder, people(range(50)))
    assert first.operations_delivered == 50
    # a comment, a blank line, keys in another order, other quoting: the same mapping (the
    # attributes keep their order: it is the order of the bytes sent)
    (folder / "people.yaml").write_text(
        "# nightly people import\nversion: 1\n\noperations:\n  - type: 'person'\n"
        "    identifiers: {id: \"user_id\"}\n    action: identify\n"
        "    attributes:\n      email: email\n      plan: 'plan'\n")
    again = night(emu, folder, people(range(50)))
    assert again.requests == 0 and again.rows_unchanged == 50
    assert not any("mapping changed" in w for w in again.warnings)
    # a state written by 0.3 holds the text's fingerprint: still the same mapping
    text = (folder / "people.yaml").read_text()
    info = state_store.read_info(folder / "people.state")
    info.mapping = text_hash(text)
    hashes = state_store.hashes(folder / "people.state")
    state_store.write(folder / "people.state", hashes, pl.DataFrame(
        schema=state_store.JOURNAL_SCHEMA), info)
    upgraded = night(emu, folder, people(range(50)))
    assert upgraded.requests == 0 and not any("mapping changed" in w for w in upgraded.warnings)
    # what is sent changes: that is a changed mapping
    (folder / "people.yaml").write_text(text.replace("plan: 'plan'", "plan: {value: gold}"))
    changed = night(emu, folder, people(range(50)))
    assert changed.operations_delivered == 50
    assert any("the mapping changed" in w for w in changed.warnings)
