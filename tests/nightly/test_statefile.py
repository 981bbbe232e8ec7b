"""`nightly/statefile.py`: the state file, written from the journal of acknowledgements."""

from __future__ import annotations

import polars as pl
import pytest
from helpers.keyed import identify, ops, state_of

from backfill.contract import INPUT, OP, ROW
from backfill.errors import UsageError
from backfill.nightly import statefile
from backfill.nightly.keys import CH, KEY, KH


def test_the_state_file_takes_the_last_acknowledgement_and_removes_undone_keys(tmp_path):
    path = tmp_path / "s.state"
    first = ops([identify("a", "1"), identify("b", "1")]).with_columns(
        pl.lit(0, dtype=pl.Int32).alias(INPUT)).select(*statefile.JOURNAL_SCHEMA)
    empty = pl.DataFrame(schema=statefile.HASHES)
    assert statefile.write(path, statefile.apply(empty, first), first, statefile.StateInfo(mapping="m")) == 2
    later = ops([identify("a", "3"), identify("a", "2")], [9, 4]).with_columns(
        pl.lit(0, dtype=pl.Int32).alias(INPUT)).select(*statefile.JOURNAL_SCHEMA)
    undo = first.filter(pl.col(KEY).str.contains('"b"')).with_columns(
        pl.lit(statefile.MIRRORED_OP, dtype=pl.Int32).alias(OP), pl.lit(10, dtype=pl.Int64).alias(ROW))
    journal = statefile.Journal(path)
    journal.add(pl.concat([later, undo]))
    journal.flush()
    frame, info = statefile.read_state(path, statefile.StateInfo())
    assert info is not None and info.mapping == "m" and info.keys == 1
    assert frame.get_column(CH).to_list() == ops([identify("a", "3")]).get_column(CH).to_list()
    assert not statefile.journal_dir(path).exists()
    texts = statefile.key_texts(path, ops([identify("a", "0")]).get_column(KH))
    assert texts.get_column(KEY).to_list() == [
        '{"type":"person","identifiers":{"id":"a"},"action":"identify"']


def test_apply_updates_adds_and_removes_keeping_the_order():
    def entries(texts, op=0):
        return ops(texts).with_columns(pl.lit(0, dtype=pl.Int32).alias(INPUT),
                                       pl.lit(op, dtype=pl.Int32).alias(OP)) \
            .select(*statefile.JOURNAL_SCHEMA)

    old = statefile.apply(pl.DataFrame(schema=statefile.HASHES),
                      entries([identify(u, "1") for u in "abcdefgh"]))
    assert old.get_column(KH).is_sorted()
    new = statefile.apply(old.clone(), pl.concat([
        entries([identify("c", "2"), identify("z", "1")]),
        entries([identify("e", "1")], statefile.MIRRORED_OP)]))
    want = state_of([identify(u, "2" if u == "c" else "1") for u in "abcdfghz"])
    assert new.to_dicts() == want.to_dicts()


def test_a_state_that_is_not_one_is_refused(tmp_path):
    bad = tmp_path / "s.state"
    bad.write_text("not parquet")
    with pytest.raises(UsageError, match="not a readable backfill state"):
        statefile.read_info(bad)

