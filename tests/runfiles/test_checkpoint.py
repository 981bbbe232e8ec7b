from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backfill.errors import UsageError
from backfill.runfiles.checkpoint import Checkpoint, RowSet, archive, read_checkpoint, save
from backfill.sources.identity import file_fingerprint as fingerprint


@given(st.lists(st.integers(1, 20), min_size=1, max_size=30).flatmap(
    lambda sizes: st.permutations(list(range(len(sizes)))).map(lambda order: (sizes, order))))
def test_any_completion_order_gives_the_right_watermark(case):
    sizes, order = case
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    done = RowSet()
    finished: set[int] = set()
    for k in order:
        done.add(starts[k], starts[k] + sizes[k] - 1)
        finished.add(k)
        prefix = 0
        while prefix in finished:
            prefix += 1
        expected = starts[prefix] if prefix < len(sizes) else sum(sizes)
        assert done.watermark == expected
        for row in range(sum(sizes)):
            owner = max(i for i in range(len(sizes)) if starts[i] <= row)
            assert (row in done) == (owner in finished)
    assert done.ranges == [] and done.count() == sum(sizes)


def test_rowset_round_trip_and_count():
    done = RowSet()
    done.add(10, 19)
    done.add(30, 30)
    assert done.watermark == 0 and done.count() == 11
    again = RowSet.from_json(done.to_json())
    assert again.ranges == [(10, 19), (30, 30)] and 15 in again and 20 not in again


def test_atomic_save_load_and_archive(tmp_path):
    data = tmp_path / "in.csv"
    data.write_text("id\n1\n")
    cp = Checkpoint("m", [fingerprint(str(data))])
    cp.done[0].add(0, 0)
    path = tmp_path / "cp.json"
    save(path, cp)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    loaded = read_checkpoint(path)
    assert loaded.done[0].watermark == 1 and loaded.inputs == cp.inputs
    assert loaded.differences("m", [fingerprint(str(data))]) == []
    data.write_text("id\n1\n2\n")
    os.utime(data, (1, 1))
    assert loaded.differences("m2", [fingerprint(str(data))]) == [
        "the mapping file changed", f"input {data} changed (its size)"]
    kept = Path(archive(path, loaded))
    assert kept.exists() and not path.exists() and kept.parent == path.parent
    assert kept.name.startswith("cp.") and kept.suffix == ".json"


def test_a_damaged_checkpoint_says_what_to_do(tmp_path):
    path = tmp_path / "cp.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="--restart"):
        read_checkpoint(path)


def test_rowset_matches_a_plain_set_under_random_adds():
    import random

    rng = random.Random(5)
    for _ in range(200):
        rows, done = RowSet(), set()
        for _ in range(rng.randint(1, 40)):
            a = rng.randint(0, 60)
            b = a + rng.randint(-1, 8)
            rows.add(a, b)
            done |= set(range(a, b + 1))
        assert {r for r in range(80) if r in rows} == done
        assert rows.count() == len(done)
        gaps = zip(rows.ranges, rows.ranges[1:], strict=False)
        assert all(b + 1 < c for (_, b), (c, _) in gaps)
        assert not rows.ranges or rows.ranges[0][0] > rows.watermark


def test_status_json_shows_when_the_run_saved_it_not_now(tmp_path):
    import orjson
    from click.testing import CliRunner

    from backfill.cli import cli
    from backfill.runfiles.checkpoint import Checkpoint, save

    path = tmp_path / "p.csv.checkpoint.json"
    save(path, Checkpoint("m", [{"path": "p.csv"}]))
    saved = orjson.loads(path.read_bytes())["updated"]
    text = orjson.loads(path.read_bytes())
    text["updated"] = "2026-01-02T03:04:05+00:00"
    path.write_bytes(orjson.dumps(text))
    shown = CliRunner().invoke(cli, ["status", str(path), "--json"])
    assert shown.exit_code == 0 and saved
    assert orjson.loads(shown.output)["updated"] == "2026-01-02T03:04:05+00:00"


def test_status_on_another_file_says_what_it_reads(tmp_path):
    from click.testing import CliRunner

    from backfill.cli import cli

    other = tmp_path / "m.yaml"
    other.write_text("version: 1\n")
    result = CliRunner().invoke(cli, ["status", str(other)])
    assert result.exit_code == 2 and "--restart" not in result.output
    assert "status reads a run's checkpoint" in result.output
