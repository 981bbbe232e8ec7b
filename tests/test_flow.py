"""`flow.py`: sources to bodies. Blocks are parsed and mapped in a pool of threads, a few
ahead, and taken in order by one thread: the bodies, their rows and the rejects never depend
on how many threads there are or how far ahead they run; a row's operations never straddle two
bodies, and no body is over the limit."""

from __future__ import annotations

import orjson
import pytest

from backfill import flow
from backfill.api import plan as make_plan
from backfill.contract import Reject
from backfill.runfiles.tally import Tally
from backfill.sources import files

MAPPING = """version: 1
operations:
  - type: person
    action: identify
    identifiers: {id: user_id}
    attributes: {email: email, note: note, seats: {column: seats, as: int}}
  - type: person
    action: event
    identifiers: {id: user_id}
    name: {value: signed_up}
    timestamp: at
    attributes: {plan: plan}
"""


class Sink:
    def __init__(self) -> None:
        self.written: list[Reject] = []

    def write(self, reject: Reject) -> None:
        self.written.append(reject)

    def flush(self) -> None:
        pass


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "BLOCK_BYTES", 16_384)  # dozens of blocks from a small file
    rows = ["user_id,email,note,seats,plan,at"] + [
        f"u{i},u{i}@example.com,{'x' * (i % 400)},{'many' if i % 97 == 0 else i % 50},"
        f"{'pro' if i % 3 else 'free'},{1_600_000_000 + i}" for i in range(6000)]
    csv = tmp_path / "people.csv"
    csv.write_text("\n".join(rows) + "\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING)
    return mapping, csv


def bodies(mapping, csv, monkeypatch, encoders: int, ahead: int):
    monkeypatch.setattr(flow, "ENCODERS", encoders)
    sink = Sink()
    tally = Tally(sink)
    out = [(bytes(b.body), b.rows.to_list()) for b in flow.batches(make_plan(mapping, csv), tally,
                                                                   ahead=ahead)]
    return out, [(r.row, r.line, r.reason) for r in sink.written], tally


def test_the_bodies_and_rejects_do_not_depend_on_the_threads(inputs, monkeypatch):
    mapping, csv = inputs
    one, rejects_one, tally = bodies(mapping, csv, monkeypatch, encoders=2, ahead=1)
    many, rejects_many, _ = bodies(mapping, csv, monkeypatch, encoders=8, ahead=6)
    assert one == many and rejects_one == rejects_many
    assert len(one) >= 3 and tally.get("rows_read") == 6000
    bad = [i for i in range(6000) if i % 97 == 0]
    assert [row for row, _, _ in rejects_one] == bad  # in order, each with its line
    assert [line for _, line, _ in rejects_one] == [i + 2 for i in bad]


def test_a_rows_operations_share_one_body_and_no_body_is_over_the_limit(inputs, monkeypatch):
    mapping, csv = inputs
    out, _, _ = bodies(mapping, csv, monkeypatch, encoders=2, ahead=2)
    seen: dict[int, int] = {}
    for n, (body, rows) in enumerate(out):
        assert len(body) <= 500_000
        ops = orjson.loads(body)["batch"]
        assert len(ops) == len(rows)
        for row in rows:
            assert seen.setdefault(row, n) == n  # never in two bodies
    assert sorted(seen) == [i for i in range(6000) if i % 97]
