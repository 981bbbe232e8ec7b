"""The summary a user reads: plurals, which figures are this run's and which are all runs',
reject groups with their real values, and no 'imported' when rows were rejected."""

from __future__ import annotations

from backfill.runfiles.report import Report

GROUP = {"stage": "limits", "reason": "attribute 'notes' value is N bytes; the limit is N",
         "count": 2, "examples": [
             {"input": "p.csv", "line": 14, "row": 12,
              "reason": "attribute 'notes' value is 1500 bytes; the limit is 1000"},
             {"input": "p.csv", "line": 80, "row": 78,
              "reason": "attribute 'notes' value is 1200 bytes; the limit is 1000"}]}


def test_reject_groups_show_a_real_reason_not_placeholders():
    text = Report(mode="run", rows_read=10, rows_done=10, rows_rejected=2, rejects=[GROUP],
                  rejects_file="p.csv.rejects.ndjson").to_text()
    assert "is N bytes" not in text
    assert ("[limits] 2 rows: attribute 'notes' value is 1500 bytes; the limit is 1000 (and "
            "others like it)") in text
    assert "        p.csv line 14\n" in text  # its reason is the group's: not repeated
    assert "p.csv line 80: attribute 'notes' value is 1200 bytes" in text
    assert "imported" not in text and "10 rows read, sent in" in text


def test_plurals_and_the_figures_of_a_resume_are_labelled():
    text = Report(mode="run", rows_read=1, rows_done=5, rows_skipped=4, operations_packed=1,
                  operations_delivered=5, requests=1, retries=1, resumed=True).to_text()
    assert "1 row read" in text and "4 rows skipped" in text
    assert "operations: 1 (packed by this run)" in text
    assert "delivered in all runs: 5 operations in 1 request (1 retry)" in text


def test_a_first_run_has_no_labels():
    text = Report(mode="run", rows_read=2, rows_done=2, operations_packed=2,
                  operations_delivered=2, requests=1).to_text()
    assert "delivered: 2 operations in 1 request (0 retries)" in text
    assert "packed by this run" not in text and "all runs" not in text
