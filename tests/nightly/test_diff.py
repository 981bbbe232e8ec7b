"""`nightly/diff.py`: tonight's operations against the state, in memory: what is sent, what is
skipped, what is missing."""

from __future__ import annotations

import polars as pl
from helpers.keyed import identify, ops, state_of

from backfill.contract import JSON, OP
from backfill.nightly import statefile
from backfill.nightly.diff import POS, Differ, mirror_frame
from backfill.nightly.keys import KEY, KH


def differ_for(texts: list[str]) -> Differ:
    return Differ(state_of(texts))


def test_an_operation_is_skipped_when_its_bytes_are_in_effect():
    differ = differ_for([identify("a", "free"), identify("b", "free")])
    tonight = ops([identify("a", "free"),  # as delivered: skipped
                   identify("b", "pro"),  # changed: sent
                   identify("a", "free"),  # the same again: nothing changed since, skipped
                   identify("b", "free"),  # back to free after "pro" tonight: sent
                   identify("c", "free")])  # new: sent
    decided = differ.decide(differ.lookup(tonight))
    kept, unchanged, counts = decided.send, decided.unchanged, decided.counts
    assert decided.runs == [(0, 0), (2, 2)]
    assert kept.get_column(JSON).to_list() == [identify("b", "pro"), identify("b", "free"),
                                                identify("c", "free")]
    assert unchanged.to_list() == [0, 2]
    assert (counts.new, counts.changed, counts.unchanged) == (1, 2, 2)
    # the next chunk continues from tonight's last bytes for b
    assert differ.decide(differ.lookup(ops([identify("b", "free")], [5]))).send.height == 0
    assert differ.missing().to_list() == []


def test_a_key_changed_in_an_earlier_chunk_is_sent_when_it_comes_back():
    differ = differ_for([identify("a", "free"), identify("b", "free")])
    chunks = [[identify("b", "pro")], [identify("b", "free"), identify("a", "free")],
              [identify("b", "free")]]
    verdicts = [differ.lookup(ops(c, [10 * i + j for j in range(len(c))]))
                for i, c in enumerate(chunks)]  # in the pool, before any decision
    sent = [differ.decide(v).send.get_column(JSON).to_list() for v in verdicts]
    # b went to pro, then back to the state's bytes (sent: pro is in effect), then unchanged
    assert sent == [[identify("b", "pro")], [identify("b", "free")], []]


def test_keys_not_in_tonights_input_are_missing_and_a_census_sends_nothing():
    state = state_of([identify("a", "x"), identify("b", "x"), identify("c", "x")])
    differ = Differ(state)
    assert differ.decide(differ.lookup(ops([identify("b", "y")])), census=True) is None
    missing = state.get_column(KH).gather(differ.missing()).to_list()
    assert sorted(missing) == sorted(ops([identify("a", "x"), identify("c", "x")])
                                     .get_column(KH).to_list())
    differ.restart()
    assert len(differ.missing()) == 3


def test_resend_sends_everything():
    differ = Differ(state_of([identify("a", "x")]), resend=True)
    decided = differ.decide(differ.lookup(ops([identify("a", "x")])))
    assert decided.send.height == 1 and decided.counts.changed == 1


def test_mirror_frame_numbers_its_operations():
    keys = pl.DataFrame({KH: [1, 2], KEY: ['{"type":"person","identifiers":{"id":"u"},'
                                           '"action":"identify"', None]},
                        schema={KH: pl.UInt64, KEY: pl.String})
    frame = mirror_frame(keys, "delete")
    assert frame.get_column(JSON).to_list() == [
        '{"type":"person","identifiers":{"id":"u"},"action":"delete"}']
    assert frame.get_column(OP).to_list() == [statefile.MIRRORED_OP]
    assert POS not in frame.columns

