"""Events from the last 72 hours can trigger campaigns in Customer.io: `validate` and `run`
count them and warn; `recent_events: skip | reject` holds them back."""

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
    assert any("3 events are from the last 72 hours or without a time, sent: they can "
               "trigger campaigns" in w for w in report.warnings)
    assert report.to_dict()["events_recent"] == 3


def test_skip_sends_only_the_old_ones_and_rejects_nothing(tmp_path):
    report, sent, rejects = names(tmp_path, "skip")
    assert sent == ["old"] and report.rows_rejected == 0 and not rejects
    assert any("not sent (recent_events: skip)" in w for w in report.warnings)


def test_reject_puts_them_in_the_rejects_file_with_the_reason(tmp_path):
    report, sent, rejects = names(tmp_path, "reject")
    assert sent == ["old"] and report.rows_rejected == 3 and report.exit_code == 1
    assert rejects.count("from the last 72 hours") == 3


def test_a_mapping_without_events_counts_none(tmp_path):
    text = ("version: 1\nrecent_events: reject\noperations:\n  - type: person\n"
            "    action: identify\n    identifiers: {id: user_id}\n")
    report = backfill.validate(text, frame().select("user_id"), tmp_path / "r")
    assert report.events_recent == 0 and not report.warnings


def test_an_unknown_choice_is_a_mapping_error_with_its_line():
    with pytest.raises(MappingError, match=r":1: recent_events must be send"):
        backfill.validate(mapping("maybe"), frame())
