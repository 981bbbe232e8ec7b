"""`--missing` undoes only the keys the rows own: a people export's objects (companies named on
each person's row) are mentioned, not owned, and are never deleted because no row names them
any more; a companies export owns its companies."""

from __future__ import annotations

import contextlib
import sqlite3

import polars as pl
from helpers.emulated import KEY, SITE, start

import backfill
from backfill.emulator.applier import reader

PEOPLE = """\
version: 1
operations:
  - type: person
    action: identify
    identifiers: {id: user_id}
  - type: object
    action: identify
    identifiers: {object_type_id: {value: "1"}, object_id: company_id}
    relationships:
      - identifiers: {id: user_id}
"""
COMPANIES = """\
version: 1
operations:
  - type: object
    action: identify
    identifiers: {object_type_id: {value: "1"}, object_id: company_id}
"""


def deletes(store) -> list[str]:
    with sqlite3.connect(store.path) as con:
        return sorted(b for (b,) in con.execute("SELECT body FROM operations")
                      if '"delete"' in b)


def nights(tmp_path, mapping: str, first: dict, second: dict) -> list[str]:
    emu, store = start(tmp_path / "emu")
    try:
        for rows in (first, second):
            report = backfill.run(mapping, pl.DataFrame(rows), site_id=SITE, api_key=KEY,
                                  endpoint=emu.url, checkpoint=tmp_path / "cp.json",
                                  nightly=backfill.Nightly(tmp_path / "s.state",
                                                           missing="delete", max_deletes=10))
            assert report.exit_code == 0, report
    finally:
        emu.stop()
    return deletes(store)


def test_a_people_export_never_deletes_a_company_its_rows_stop_naming(tmp_path):
    gone = nights(tmp_path, PEOPLE,
                  {"user_id": ["u1", "u2", "u3"], "company_id": ["c1", "c5", "c5"]},
                  {"user_id": ["u1"], "company_id": ["c1"]})
    assert gone == ['{"type":"person","identifiers":{"id":"u2"},"action":"delete"}',
                    '{"type":"person","identifiers":{"id":"u3"},"action":"delete"}']


def test_a_companies_export_deletes_the_company_gone_from_it(tmp_path):
    gone = nights(tmp_path, COMPANIES, {"company_id": ["c1", "c5"]}, {"company_id": ["c1"]})
    assert gone == ['{"type":"object","identifiers":{"object_type_id":"1","object_id":"c5"},'
                    '"action":"delete"}']


MOVES = """\
version: 1
operations:
  - type: person
    action: identify
    identifiers: {id: user_id}
  - type: person
    action: add_relationships
    identifiers: {id: user_id}
    relationships:
      - identifiers: {object_type_id: {value: "1"}, object_id: company_id}
"""


def removed(store) -> list[str]:
    with sqlite3.connect(store.path) as con:
        return [b for (b,) in con.execute("SELECT body FROM operations WHERE action = "
                                          "'delete_relationships' ORDER BY id")]


def test_a_relationship_gone_from_a_row_is_removed_once(tmp_path):
    emu, store = start(tmp_path / "emu")
    nights = [{"user_id": ["u1", "u2"], "company_id": ["c006", "c1"]},
              {"user_id": ["u1", "u2"], "company_id": ["c999", None]},
              {"user_id": ["u1", "u2"], "company_id": ["c999", None]}]
    seen = []
    try:
        for rows in nights:
            report = backfill.run(MOVES, pl.DataFrame(rows), site_id=SITE, api_key=KEY,
                                  endpoint=emu.url, checkpoint=tmp_path / "cp.json",
                                  nightly=backfill.Nightly(tmp_path / "s.state",
                                                           missing="delete", max_deletes=10))
            assert report.exit_code == 0
            seen.append(list(removed(store)))
    finally:
        emu.stop()
    moved = ('{"type":"person","identifiers":{"id":"u1"},"action":"delete_relationships",'
             '"cio_relationships":[{"identifiers":{"object_type_id":"1","object_id":"c006"}}]}')
    left = ('{"type":"person","identifiers":{"id":"u2"},"action":"delete_relationships",'
            '"cio_relationships":[{"identifiers":{"object_type_id":"1","object_id":"c1"}}]}')
    assert seen[0] == [] and sorted(seen[1]) == sorted([moved, left])
    assert seen[2] == seen[1]  # the third night removes nothing again
    assert list((tmp_path / "s.state.keys").glob("rels-*.parquet"))  # kept with --missing
    assert deletes(store) == []  # nobody deleted: both people are still in the export
    store.settle()
    with contextlib.closing(reader(store.path)) as con:
        held = con.execute("SELECT person, object FROM ws_relationships ORDER BY object").fetchall()
    assert [o for _, o in held] == ["c999"]  # the workspace ends with u1 in c999 alone


def test_without_missing_relationships_are_never_removed(tmp_path):
    emu, store = start(tmp_path / "emu")
    try:
        for rows in ({"user_id": ["u1"], "company_id": ["c006"]},
                     {"user_id": ["u1"], "company_id": ["c999"]}):
            backfill.run(MOVES, pl.DataFrame(rows), site_id=SITE, api_key=KEY, endpoint=emu.url,
                         checkpoint=tmp_path / "cp.json",
                         nightly=backfill.Nightly(tmp_path / "s.state"))
    finally:
        emu.stop()
    assert removed(store) == []
    # without --missing the state keeps no relationship texts (they would only cost space)
    assert not list((tmp_path / "s.state.keys").glob("rels-*.parquet"))
