"""`run`'s bar tells delivery, not reading: its position is the input read scaled by the share
of the rows read that are done; its line stays within 80 columns."""

from __future__ import annotations

import io

from backfill.runfiles.progress import DeliveryBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def bar(total: int = 1000) -> DeliveryBar:
    return DeliveryBar(total, quiet=False, file=Terminal())


def test_reading_ahead_of_sending_does_not_move_the_bar():
    b = bar()
    b.moved(600)  # 60% read, nothing delivered yet
    b.show(done=0, seen=6000, operations=0, per_s=0.0, retries=0, rejected=0)
    assert b.bar.n == 0
    b.show(done=3000, seen=6000, operations=3000, per_s=10.0, retries=0, rejected=0)
    assert b.bar.n == 300  # half the rows read are done: half the bytes read
    b.moved(1000)
    b.show(done=10_000, seen=10_000, operations=10_000, per_s=10.0, retries=0, rejected=0)
    assert b.bar.n == 1000


def test_a_resume_starts_where_the_checkpoint_is():
    b = bar()
    b.moved(500)  # the reader skipped the rows done before
    b.show(done=5000, seen=5000, operations=0, per_s=0.0, retries=0, rejected=0)
    assert b.bar.n == 500


def test_the_line_fits_80_columns_with_large_counts():
    b = bar(10**12)
    b.moved(5 * 10**11)
    b.show(done=123_456_789, seen=246_913_578, operations=987_654_321, per_s=1000.0,
           retries=12_345, rejected=67_890)
    line = b.bar.fp.getvalue().split("\r")[-1].strip()
    assert "123M rows" in line and "988M ops" in line and "12,345 retries" in line
    assert len(line) <= 80, line


def test_one_of_each_is_singular():
    b = bar()
    b.show(done=1, seen=2, operations=1, per_s=1.0, retries=1, rejected=0)
    assert "1 row, 1 op, 1 req/s, 1 retry |" in b.bar.fp.getvalue()
