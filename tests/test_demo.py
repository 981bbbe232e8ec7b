"""`backfill demo` (what `make demo` runs): both sample imports, rejects shown with their real
values, and the emulator's store left as one SQLite file."""

from __future__ import annotations

import sqlite3

from conftest import ROOT

from backfill.demo import run_demo


def test_the_demo_imports_the_samples_and_leaves_one_store_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the inputs come from the configs' own folder
    said: list[str] = []
    assert run_demo(tmp_path / "out", said.append, ROOT) == 0
    text = "\n".join(said)
    assert "3,002 rows read, sent in" in text and "5,000 rows read, sent in" in text
    assert "imported" not in text and " is N bytes" not in text
    assert "attribute 'notes' value is 1500 bytes; the limit is 1000" in text
    files = sorted(p.name for p in (tmp_path / "out").iterdir() if "sqlite" in p.name)
    assert files == ["emulator.sqlite"]
    with sqlite3.connect(tmp_path / "out" / "emulator.sqlite") as con:
        assert con.execute("SELECT count(*) FROM operations").fetchone()[0] == 13_981
        held = {k: con.execute(f"SELECT count(*) FROM ws_{k}").fetchone()[0]  # noqa: S608
                for k in ("people", "objects", "relationships", "events")}
    # every identified person, and the few the events name only; the sample's 15 companies
    assert held == {"people": 2_999, "objects": 15, "relationships": 2_995, "events": 4_996}
    assert "The workspace they leave" in text and "2,999 people, 15 objects" in text
