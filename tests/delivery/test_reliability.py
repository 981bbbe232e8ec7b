"""Reliability: faults, an outage, exhausted retries, SIGKILL x5, Ctrl-C. Nothing is lost.

Slow (about a minute and a half); run in CI all the same. `bench/reliability.py` prints the same
figures for RELIABILITY.md.
"""

from __future__ import annotations

import pytest
from helpers import reliability

pytestmark = pytest.mark.slow


def test_faults_lose_nothing_and_duplicates_come_from_lost_answers(tmp_path):
    fig = reliability.faults(tmp_path, rows=200_000)
    assert fig.exit_codes == [0]
    assert fig.lost == 0
    assert fig.operations_stored == fig.operations_expected + fig.duplicated


def test_an_outage_is_waited_out_or_resumed(tmp_path):
    fig = reliability.outage(tmp_path)
    assert fig.exit_codes in ([0], [3, 0])
    assert fig.lost == 0


def test_exhausted_retries_exit_3_and_the_same_command_finishes(tmp_path):
    fig = reliability.exhausted(tmp_path)
    assert fig.exit_codes == [3, 0]
    assert fig.lost == 0 and fig.duplicated == 0


def test_sigkill_five_times_then_resume(tmp_path):
    fig = reliability.kills(tmp_path)
    assert fig.exit_codes[-1] == 0
    assert fig.lost == 0
    assert "during a checkpoint save" in fig.injected
    assert fig.injected.count("SIGKILL") == 1 and fig.injected.count(";") >= 2


def test_ctrl_c_drains_and_a_second_one_stops_at_once(tmp_path):
    fig = reliability.interrupts(tmp_path)
    assert fig.exit_codes == [3, 3, 0]
    assert fig.lost == 0
    assert "resume command printed" in fig.notes and "checkpoint valid" in fig.notes
