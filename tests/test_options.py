"""The Python face of `run`'s options and its report: `Sending` and `Nightly` (one set of
defaults, the command line's too), passed whole or field by field but not both ways; bad values
are usage errors; a `Report` is the same in Python and in its JSON; errors are exported from
`backfill`."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from click.testing import CliRunner
from helpers import write
from helpers.emulated import KEY, SITE

import backfill
from backfill import errors
from backfill.cli import cli
from backfill.errors import UsageError
from backfill.runfiles.report import REPORT_VERSION

MAPPING = ("version: 1\noperations:\n  - type: person\n    action: identify\n"
           "    identifiers: {id: user_id}\n    attributes: {n: n}\n")


def rows(tmp_path, count: int = 20, n: int = 1):
    return write(tmp_path / "p.csv", "user_id,n\n" + "".join(f"u{i},{n}\n" for i in range(count)))


@pytest.mark.parametrize(("make", "said"), [
    (lambda: backfill.Sending(rate=0), "rate=0"),
    (lambda: backfill.Sending(concurrency=-1), "concurrency=-1"),
    (lambda: backfill.Sending(concurrency=2.5), "whole number"),
    (lambda: backfill.Sending(retries=True), "retries=True"),
    (lambda: backfill.Sending(max_wait=-1), "at least 0"),
    (lambda: backfill.Sending(adaptive="yes"), "True or False"),
    (lambda: backfill.Nightly("x.state", missing="wipe"), "'ignore', 'delete', 'suppress'"),
])
def test_bad_option_values_are_usage_errors(make, said):
    with pytest.raises(UsageError, match=said.replace("(", r"\(")):
        make()


def test_options_passed_both_ways_are_refused_before_anything(tmp_path):
    data = rows(tmp_path)
    with pytest.raises(UsageError, match=r"rate= and sending= both given"):
        backfill.run(MAPPING, [str(data)], site_id=SITE, api_key=KEY, rate=5,
                     sending=backfill.Sending(rate=10))
    with pytest.raises(UsageError, match=r"state= and nightly= both given"):
        backfill.run(MAPPING, [str(data)], site_id=SITE, api_key=KEY, state="a.state",
                     nightly=backfill.Nightly("b.state"))
    with pytest.raises(UsageError, match=r"full=True needs a state"):
        backfill.run(MAPPING, [str(data)], site_id=SITE, api_key=KEY, full=True)
    assert not (tmp_path / "p.csv.checkpoint.json").exists()


def test_run_takes_sending_and_nightly_objects(tmp_path, emulator):
    data = rows(tmp_path)
    state = tmp_path / "p.state"
    emu = emulator
    options = {"site_id": SITE, "api_key": KEY, "endpoint": emu.url,
               "sending": backfill.Sending(rate=50, concurrency=2, adaptive=False,
                                           retries=3),
               "nightly": backfill.Nightly(state, missing="delete", max_deletes=5)}
    first = backfill.run(MAPPING, [str(data)], **options)
    again = backfill.run(MAPPING, [str(data)], **options)
    rows(tmp_path, n=2)
    changed = backfill.run(MAPPING, [str(data)], **options)
    assert first.operations_delivered == 20 and first.state == str(state)
    assert first.sending is None  # adaptive=False: a fixed number in flight, no figures
    assert again.rows_unchanged == 20 and again.operations_delivered == 0  # nothing changed
    assert changed.rows_changed == 20


def test_the_command_line_shows_the_option_objects_defaults():
    text = " ".join(CliRunner().invoke(cli, ["run", "--help"]).output.split())
    sending, nightly = backfill.Sending(), backfill.Nightly("x")
    assert f"[default: {sending.retries}; x>=1]" in text
    assert f"[default: {sending.max_wait}; x>=0]" in text
    assert f"[default: {nightly.max_deletes}]" in text


def test_a_report_is_the_same_in_python_and_in_its_json(tmp_path):
    data = write(tmp_path / "p.csv", "user_id,n\nu1,1\nu2,2\n,3\n")
    report = backfill.validate(MAPPING, [str(data)])
    shown = orjson.loads(report.to_json())
    assert shown["report_version"] == REPORT_VERSION
    for f in dataclasses.fields(report):
        assert shown[f.name] == getattr(report, f.name), f.name
    assert report.operations_by_type == {"person identify": 2} == shown["operations_by_type"]
    assert isinstance(report.estimated_send_s, float)
    assert shown["estimated_send_s"] == report.estimated_send_s
    assert shown["fill_ratio"] == report.fill_ratio and report.rows_rejected == 1
    assert report.rejects_file == str(tmp_path / "p.csv.validate.rejects.ndjson")
    assert report.rejects_path == report.rejects_file  # the former name still reads


def test_errors_and_report_types_are_exported_from_backfill():
    assert backfill.Stopped is errors.Stopped and backfill.Refused is errors.Refused
    assert issubclass(backfill.Refused, backfill.Stopped)
    assert issubclass(backfill.MappingError, backfill.UsageError)
    assert {backfill.UsageError(x).exit_code for x in "a"} == {2}
    assert backfill.Report.__name__ == "Report" and backfill.Sending().rate is None
