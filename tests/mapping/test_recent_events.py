"""Events from the last 72 hours can trigger campaigns in Customer.io: `validate` and `run`
count them (and those dated in the future, and those without a time), `run` says so before its
first request; `recent_events: skip | reject` holds them back; an event with no `timestamp:`
mapped is refused unless the mapping says `timestamp: now`."""

from __future__ import annotations

import time

import orjson
import polars as pl
import pytest

import backfill
from backfill.errors import MappingError

DAY = 24 * 3600


def mapping(policy: str | None) -> str:
    return (("" if policy is None else f"recent_events: {policy}\n")
            + "version: 1\noperations:\n  - type: person\n    action: event\n"
              "    identifiers: {id: user_id}\n    name: event\n    timestamp: at\n")


def frame() -> pl.DataFrame:
    now = int(time.time())
    return pl.DataFrame({"user_id": ["u1", "u2", "u3", "u4"], "event": ["old", "new", "soon", "none"],
                         "at": [str(now - 30 * DAY), str(now - DAY), str(now + DAY), None]})


def names(tmp_path, policy):
    bodies, rejects = tmp_path / "b", tmp_path / "r"
    report = backfill.validate(mapping(policy), frame(), rejects, bodies)
    sent = [op["name"] for line in bodies.read_bytes().splitlines()
            for op in orjson.loads(line)["batch"]]
    return report, sent, rejects.read_text() if rejects.exists() else ""


def test_by_default_they_are_sent_counted_and_warned_about(tmp_path):
    report, sent, _ = names(tmp_path, None)
    assert sent == ["old", "new", "soon", "none"] and report.events_recent == 3
    assert report.events_future == 1 and report.events_untimed == 1
    assert any("3 events can trigger campaigns (1 from the last 72 hours, 1 dated in the "
               "future, 1 without a time (sent as now)): they are sent" in w
               for w in report.warnings)
    assert report.to_dict()["events_recent"] == 3


def test_skip_sends_only_the_old_ones_and_rejects_nothing(tmp_path):
    report, sent, rejects = names(tmp_path, "skip")
    assert sent == ["old"] and report.rows_rejected == 0 and not rejects
    assert any("they are not sent (recent_events: skip)" in w for w in report.warnings)


def test_reject_puts_them_in_the_rejects_file_with_the_reason(tmp_path):
    report, sent, rejects = names(tmp_path, "reject")
    assert sent == ["old"] and report.rows_rejected == 3 and report.exit_code == 1
    assert rejects.count("from the last 72 hours (or dated in the future") == 3


def test_a_mapping_without_events_counts_none(tmp_path):
    text = ("version: 1\nrecent_events: reject\noperations:\n  - type: person\n"
            "    action: identify\n    identifiers: {id: user_id}\n")
    report = backfill.validate(text, frame().select("user_id"), tmp_path / "r")
    assert report.events_recent == 0 and not report.warnings


def test_an_unknown_choice_is_a_mapping_error_with_its_line():
    with pytest.raises(MappingError, match=r":1: recent_events must be send"):
        backfill.validate(mapping("maybe"), frame())


def test_an_event_without_a_timestamp_is_refused_unless_the_mapping_says_now(tmp_path):
    text = mapping(None).replace("    timestamp: at\n", "")
    with pytest.raises(MappingError, match=r":3: operation 0 \(person event\): no 'timestamp:'"
                                           r", so every event would be sent as happening now"):
        backfill.validate(text, frame())
    now = text + "    timestamp: now\n"
    bodies = tmp_path / "b"
    report = backfill.validate(now, frame(), tmp_path / "r", bodies)
    ops = [op for line in bodies.read_bytes().splitlines() for op in orjson.loads(line)["batch"]]
    assert len(ops) == 4 and not any("timestamp" in op for op in ops)
    assert report.events_untimed == 4 and report.events_recent == 4


def test_a_column_named_now_is_read_as_a_column(tmp_path):
    text = mapping(None).replace("    timestamp: at\n", "    timestamp: {column: now}\n")
    report = backfill.validate(text, frame().rename({"at": "now"}), tmp_path / "r")
    assert report.events_untimed == 1 and report.events_future == 1


def test_run_says_them_before_its_first_request(tmp_path):
    """The note is on stderr before the API receives the first body: the server waits (up to
    10 s) for the test to read it before answering, and records whether it had."""
    import asyncio
    import os
    import subprocess
    import sys
    import threading

    from helpers import ROOT, write
    from helpers.hostile import REGION, Hostile

    noted, seen = threading.Event(), []

    async def answer(method, path, body):
        if path == "/api/v1/accounts/region":
            return REGION
        for _ in range(500):
            if noted.is_set():
                break
            await asyncio.sleep(0.02)
        seen.append(noted.is_set())
        return 200, {"content-type": "application/json"}, b"{}"

    data = write(tmp_path / "e.csv", "user_id,event,at\nu1,signup,\nu2,login,1700000000\n")
    spec = write(tmp_path / "m.yaml", mapping(None))
    with Hostile(answer) as api:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backfill", "run", str(spec), str(data), "--endpoint",
             api.url, "--quiet"], cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env={**os.environ, "CUSTOMERIO_SITE_ID": "s", "CUSTOMERIO_API_KEY": "k"})
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "in the first rows read can trigger campaigns" in line:
                noted.set()
        out = proc.stdout.read()
        proc.wait(60)
    assert proc.returncode == 0, "".join(lines)
    assert seen == [True]
    assert any("1 event in the first rows read can trigger campaigns (1 without a time "
               "(sent as now)): they are sent" in line for line in lines)
    assert "1 event can trigger campaigns" in out + "".join(lines)  # and the total at the end
