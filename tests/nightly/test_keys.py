"""`nightly/keys.py`: what an operation is known by in the state (its key and hashes), and the
operations that undo one (`--missing`)."""

from __future__ import annotations

import subprocess
import sys

import polars as pl

from backfill.nightly.keys import canary, key_text, mirror_ops

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


def test_the_hash_canary_is_the_same_in_another_process():
    code = "from backfill.nightly.keys import canary; print(canary())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert int(other.stdout) == canary()

