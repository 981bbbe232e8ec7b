"""The pieces of `--state`: keys, the diff rule, the state file and its journal, the lock."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl
import pytest

from backfill.contract import INPUT, JSON, OP, ROW
from backfill.errors import UsageError
from backfill.nightly import deletes_allowed
from backfill.state import store
from backfill.state.diff import POS, Differ, mirror_frame
from backfill.state.keys import CH, KEY, KH, canary, key_text, mirror_ops, with_keys
from backfill.state.lock import RunLock

PERSON = '{"type":"person","identifiers":{"id":"u1"},"action":"identify","attributes":{"a":1}}'
DEVICE = ('{"type":"person","identifiers":{"id":"u1"},"action":"add_device",'
          '"device":{"token":"t\\"1","platform":"ios"}}')


def keys_of(texts: list[str], kind: tuple[str, str, bool]) -> list[str]:
    return pl.select(key_text(pl.lit(pl.Series(texts)), *kind)).to_series().to_list()


def test_keys_name_what_an_operation_is_about():
    assert keys_of([PERSON], ("person", "identify", False)) == [
        '{"type":"person","identifiers":{"id":"u1"},"action":"identify"']
    assert keys_of([DEVICE], ("person", "add_device", False)) == [
        '{"type":"person","identifiers":{"id":"u1"},"action":"add_device",'
        '"device":{"token":"t\\"1"']
    event = '{"type":"person","identifiers":{"id":"u1"},"action":"event","name":"x"}'
    assert keys_of([event], ("person", "event", True)) == [event]


def test_mirror_operations_undo_people_objects_and_devices():
    keys = pl.Series([
        '{"type":"person","identifiers":{"id":"u1"},"action":"identify"',
        '{"type":"object","identifiers":{"object_type_id":"1","object_id":"c"},'
        '"action":"identify"',
        '{"type":"person","identifiers":{"id":"u1"},"action":"add_device","device":{"token":"t"'])
    assert mirror_ops(keys, "delete").to_list() == [
        '{"type":"person","identifiers":{"id":"u1"},"action":"delete"}',
        '{"type":"object","identifiers":{"object_type_id":"1","object_id":"c"},'
        '"action":"delete"}',
        '{"type":"person","identifiers":{"id":"u1"},"action":"delete_device",'
        '"device":{"token":"t"}}']
    assert mirror_ops(keys, "suppress").to_list() == [
        '{"type":"person","identifiers":{"id":"u1"},"action":"suppress"}', None, None]


def ops(texts: list[str], rows: list[int] | None = None) -> pl.DataFrame:
    frame = pl.DataFrame({ROW: rows or list(range(len(texts))), OP: [0] * len(texts),
                          JSON: texts}, schema={ROW: pl.Int64, OP: pl.Int32, JSON: pl.String})
    return with_keys(frame, [("person", "identify", False)])


def identify(user: str, plan: str) -> str:
    return (f'{{"type":"person","identifiers":{{"id":"{user}"}},"action":"identify",'
            f'"attributes":{{"plan":"{plan}"}}}}')


def state_of(texts: list[str]) -> pl.DataFrame:
    return ops(texts).select(KH, CH).sort(KH)


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


def test_the_state_file_takes_the_last_acknowledgement_and_removes_undone_keys(tmp_path):
    path = tmp_path / "s.state"
    first = ops([identify("a", "1"), identify("b", "1")]).with_columns(
        pl.lit(0, dtype=pl.Int32).alias(INPUT)).select(*store.JOURNAL_SCHEMA)
    empty = pl.DataFrame(schema=store.HASHES)
    assert store.write(path, store.apply(empty, first), first, store.StateInfo(mapping="m")) == 2
    later = ops([identify("a", "3"), identify("a", "2")], [9, 4]).with_columns(
        pl.lit(0, dtype=pl.Int32).alias(INPUT)).select(*store.JOURNAL_SCHEMA)
    undo = first.filter(pl.col(KEY).str.contains('"b"')).with_columns(
        pl.lit(store.MIRRORED_OP, dtype=pl.Int32).alias(OP), pl.lit(10, dtype=pl.Int64).alias(ROW))
    journal = store.Journal(path)
    journal.add(pl.concat([later, undo]))
    journal.flush()
    frame, info = store.load(path, store.StateInfo())
    assert info is not None and info.mapping == "m" and info.keys == 1
    assert frame.get_column(CH).to_list() == ops([identify("a", "3")]).get_column(CH).to_list()
    assert not store.journal_dir(path).exists()
    texts = store.key_texts(path, ops([identify("a", "0")]).get_column(KH))
    assert texts.get_column(KEY).to_list() == [
        '{"type":"person","identifiers":{"id":"a"},"action":"identify"']


def test_apply_updates_adds_and_removes_keeping_the_order():
    def entries(texts, op=0):
        return ops(texts).with_columns(pl.lit(0, dtype=pl.Int32).alias(INPUT),
                                       pl.lit(op, dtype=pl.Int32).alias(OP)) \
            .select(*store.JOURNAL_SCHEMA)

    old = store.apply(pl.DataFrame(schema=store.HASHES),
                      entries([identify(u, "1") for u in "abcdefgh"]))
    assert old.get_column(KH).is_sorted()
    new = store.apply(old.clone(), pl.concat([
        entries([identify("c", "2"), identify("z", "1")]),
        entries([identify("e", "1")], store.MIRRORED_OP)]))
    want = state_of([identify(u, "2" if u == "c" else "1") for u in "abcdfghz"])
    assert new.to_dicts() == want.to_dicts()


def test_a_state_that_is_not_one_is_refused(tmp_path):
    bad = tmp_path / "s.state"
    bad.write_text("not parquet")
    with pytest.raises(UsageError, match="not a readable backfill state"):
        store.read_info(bad)


def test_mirror_frame_numbers_its_operations():
    keys = pl.DataFrame({KH: [1, 2], KEY: ['{"type":"person","identifiers":{"id":"u"},'
                                           '"action":"identify"', None]},
                        schema={KH: pl.UInt64, KEY: pl.String})
    frame = mirror_frame(keys, "delete")
    assert frame.get_column(JSON).to_list() == [
        '{"type":"person","identifiers":{"id":"u"},"action":"delete"}']
    assert frame.get_column(OP).to_list() == [store.MIRRORED_OP]
    assert POS not in frame.columns


def test_the_hash_canary_is_the_same_in_another_process():
    code = "from backfill.state.keys import canary; print(canary())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert int(other.stdout) == canary()


def test_max_deletes_takes_a_count_or_a_share():
    assert deletes_allowed("1%", 1000) == 10
    assert deletes_allowed("1%", 50) == 1
    assert deletes_allowed("250", 10) == 250
    for bad in ("x", "-1", "150%", ""):
        with pytest.raises(UsageError):
            deletes_allowed(bad, 10)


def test_a_second_lock_names_the_holder_and_a_released_one_is_free(tmp_path):
    path = tmp_path / "c.json"
    with RunLock(path, "checkpoint"):
        code = ("import sys; from backfill.state.lock import RunLock\n"
                "from backfill.errors import UsageError\n"
                f"try:\n    RunLock({str(path)!r}, 'checkpoint').acquire()\n"
                "except UsageError as e:\n    print(e)\n")
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert f"process {os.getpid()}" in other.stdout
    with RunLock(path, "checkpoint"):
        pass
