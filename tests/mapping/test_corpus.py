"""The bad-input corpus (tests/corpus/): for each file, the exit code and the rejects or the
message; never a traceback, never a silently dropped row, and the counts reconcile."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from pathlib import Path

import orjson
import pytest
from helpers.emulated import KEY, SITE, start

import backfill
from backfill.errors import BackfillError

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

# file, mapping, exit code, rows read, [(stage, words of the reason)] or words of the error
CASES = [
    ("clean.csv", "people.yaml", 0, 2, []),
    ("invalid_utf8.csv", "people.yaml", 1, 3, [("read", "not valid in the declared encoding")]),
    ("latin1_declared.csv", "latin1.yaml", 0, 2, []),
    ("latin1_undeclared.csv", "people.yaml", 1, 2, [("read", "not valid in the declared")]),
    ("bom.csv", "people.yaml", 0, 2, []),
    ("crlf.csv", "people.yaml", 0, 2, []),
    ("quoted_newlines.csv", "people.yaml", 0, 2, []),
    ("quotes.csv", "people.yaml", 0, 2, []),
    ("nul_bytes.csv", "people.yaml", 0, 2, []),
    ("empty.csv", "people.yaml", 0, 0, []),
    ("header_only.csv", "people.yaml", 0, 0, []),
    ("duplicate_columns.csv", "people.yaml", 0, 1, []),
    ("too_many_fields.csv", "people.yaml", 1, 3, [("read", "too many fields: 8 where the "
                                                            "header has 6")]),
    ("too_few_fields.csv", "people.yaml", 1, 3, [("read", "too few fields: 2 where the header "
                                                          "has 6")]),
    ("blank_lines.csv", "people.yaml", 0, 2, []),
    ("unterminated_quote.csv", "people.yaml", 1, 2, [("read", "never closed")]),
    ("stray_quote.csv", "people.yaml", 1, 3, [("read", "malformed CSV record")]),
    ("long_identifier.csv", "people.yaml", 1, 2, [("limits", "identifier 'id' is 201 bytes; "
                                                              "the limit is 150")]),
    ("long_value.csv", "people.yaml", 1, 2, [("limits", "attribute 'name' value is 1001 bytes")]),
    ("int_on_text.csv", "people.yaml", 1, 2, [("mapping", "value \"five\" is not an int")]),
    ("impossible_dates.csv", "people.yaml", 1, 3, [
        ("mapping", "\"2024-02-30\" is not a timestamp"),
        ("mapping", "\"2024-13-01\" is not a timestamp")]),
    ("epoch_millis.csv", "people.yaml", 0, 1, []),
    ("empty_identifier.csv", "people.yaml", 1, 2, [("mapping", "no identifier")]),
    ("long_event_name.csv", "people.yaml", 1, 2, [("limits", "event name is 101 bytes")]),
    ("many_attributes.csv", "wide.yaml", 1, 2, [("limits", "301 attributes; the limit is 300")]),
    ("gzipped.csv.gz", "people.yaml", 0, 2, []),
    ("zstd.csv.zst", "people.yaml", 0, 2, []),
    ("ndjson_arrays.ndjson", "people.yaml", 1, 3, [("read", "line is an array")]),
    ("ndjson_numbers.ndjson", "people.yaml", 1, 4, [
        ("read", "line is a number"), ("read", "line is a string"), ("read", "line is null")]),
    ("ndjson_broken.ndjson", "people.yaml", 1, 2, [("read", "not valid JSON")]),
    ("ndjson_invalid_utf8.ndjson", "people.yaml", 1, 2, [("read", "not valid JSON")]),
    ("nested.parquet", "people.yaml", 0, 2, []),
    ("clean.csv", "missing_columns.yaml", 2, 0, "column 'e_mail' is not in"),
    ("clean.csv", "yaml_syntax_error.yaml", 2, 0, "YAML syntax error"),
    ("big_field.csv", "people.yaml", 1, 2, [("limits", "attribute 'name' value is 10000000")]),
    ("truncated.csv.gz", "people.yaml", 2, 0, "damaged or truncated"),
]


def test_the_corpus_has_at_least_30_files():
    assert len([p for p in CORPUS.iterdir() if p.suffix != ".py"]) >= 30


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu, store = start(tmp_path_factory.mktemp("emulator"))
    yield emu, store
    emu.stop()


def materialise(name: str, tmp_path: Path) -> Path:
    if name == "big_field.csv":
        path = tmp_path / name
        path.write_text("user_id,email,name,seats,signup,event\nu1,a@x.com,Ann,3,2024-01-02,b\n"
                        "u2,b@x.com," + "x" * 10_000_000 + ",4,2024-01-03,view\n")
        return path
    if name == "truncated.csv.gz":
        data = gzip.compress(b"user_id,email,name,seats,signup,event\n"
                             + b"u1,a@x.com,Ann,3,2024-01-02,buy\n" * 20000)
        path = tmp_path / name
        path.write_bytes(data[: len(data) // 2])
        return path
    path = tmp_path / name
    shutil.copy(CORPUS / name, path)
    return path


@pytest.mark.parametrize("name, mapping, code, rows, expected", CASES,
                         ids=[f"{c[0]}+{c[1]}" for c in CASES])
def test_corpus_file(name, mapping, code, rows, expected, emulator, tmp_path):
    emu, store = emulator
    data = materialise(name, tmp_path)
    before = store.operations
    try:
        report = backfill.run(CORPUS / mapping, data, site_id=SITE, api_key=KEY,
                              endpoint=emu.url, rejects=tmp_path / "rejects.ndjson")
    except BackfillError as exc:
        assert isinstance(expected, str), exc  # stopped before sending: the message says why
        assert exc.exit_code == code and expected in str(exc)
        assert store.operations == before
        return
    assert not isinstance(expected, str) and report.exit_code == code
    report = report.to_dict()
    rejects = [orjson.loads(x) for x in (tmp_path / "rejects.ndjson").read_bytes().splitlines()
               ] if (tmp_path / "rejects.ndjson").exists() else []
    assert [(r["stage"]) for r in rejects] == [s for s, _ in expected]
    for r, (_, words) in zip(rejects, expected, strict=True):
        assert words in r["reason"], r
        assert r["input"] == str(data) and r["row"] >= 0
    # the counts reconcile: every row read was delivered or rejected, nothing else
    assert report["rows_read"] == rows
    assert report["rows_rejected"] == len(rejects)
    delivered_rows = rows - len(rejects)
    stored = store.operations - before
    assert stored == report["operations_delivered"]
    assert (stored > 0) == (delivered_rows > 0)
    with sqlite3.connect(store.path) as con:
        ids = {orjson.loads(b)["identifiers"]["id"] for (b,) in con.execute(
            "SELECT body FROM operations ORDER BY id DESC LIMIT ?", (stored,))} if stored else set()
    assert len(ids) == delivered_rows  # each good row's person reached the API
