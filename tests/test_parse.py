from __future__ import annotations

import polars as pl

from backfill.parse import CsvLayout, parse_csv_block, parse_ndjson_block

LAYOUT = CsvLayout(("id", "name", "zip"))


def rows(parsed):
    return parsed.frame.select("__row", "__line", "id", "name", "zip").rows()


def test_fast_path_keeps_strings_and_numbers_rows_and_lines():
    p = parse_csv_block(b"1,Ann,02134\n2,Bob,00501\n", LAYOUT, "f.csv", 2, 0)
    assert p.path == "fast"
    assert rows(p) == [(0, 2, "1", "Ann", "02134"), (1, 3, "2", "Bob", "00501")]


def test_quoted_newlines_shift_the_physical_lines():
    p = parse_csv_block(b'1,"A\nB\nC",1\n2,x,2\n', LAYOUT, "f.csv", 2, 10)
    assert p.path == "fast"
    assert rows(p) == [(10, 2, "1", "A\nB\nC", "1"), (11, 5, "2", "x", "2")]


def test_short_and_long_rows_are_rejected_and_the_rest_kept():
    block = b"1,a,1\n2,b\n3,c,3,extra\n\n4,d,\n"
    p = parse_csv_block(block, LAYOUT, "f.csv", 2, 0)
    assert p.path == "lines"
    assert rows(p) == [(0, 2, "1", "a", "1"), (3, 6, "4", "d", "")]
    assert [(r.row, r.line, r.stage) for r in p.rejects] == [(1, 3, "read"), (2, 4, "read")]
    assert "too few fields: 2 where the header has 3" in p.rejects[0].reason
    assert p.rejects[1].record["_extra_fields"] == ["extra"]
    assert p.records == 4  # the blank line is not a row


def test_quoted_fields_on_one_line_take_the_line_path():
    block = b'1,"a, b",""\n2,"x"\n3,"q""uote",3\n'
    p = parse_csv_block(block, LAYOUT, "f.csv", 2, 0)
    assert p.path == "lines"
    assert rows(p) == [(0, 2, "1", "a, b", ""), (2, 4, "3", 'q"uote', "3")]
    assert p.rejects[0].record == {"id": "2", "name": "x"}


def test_exact_path_with_quotes_and_malformed_rows():
    block = b'1,"a, b",1\n2,"x\ny"\n3,"q""uote",3\n'
    p = parse_csv_block(block, LAYOUT, "f.csv", 2, 0)
    assert p.path == "exact"
    assert rows(p) == [(0, 2, "1", "a, b", "1"), (2, 5, "3", 'q"uote', "3")]
    assert [(r.row, r.line) for r in p.rejects] == [(1, 3)]


def test_invalid_utf8_rejects_the_row_only():
    p = parse_csv_block(b"1,ok,1\n2,\xff\xfe,2\n3,\xc3\xa9,3\n", LAYOUT, "f.csv", 2, 0)
    assert [r[2] for r in rows(p)] == ["1", "3"]
    assert rows(p)[1][3] == "é"
    assert p.rejects[0].row == 1 and "not valid in the declared encoding" in p.rejects[0].reason


def test_a_real_replacement_character_is_kept():
    p = parse_csv_block("1,\ufffd,1\n".encode(), LAYOUT, "f.csv", 2, 0)
    assert not p.rejects and rows(p)[0][3] == "\ufffd"


def test_ndjson_bad_lines_are_rejected_with_their_lines():
    block = b'{"a":1}\n[1,2]\n5\n{bad\n\n{"a":2,"b":"x"}\n'
    p = parse_ndjson_block(block, "e.ndjson", 1, 0)
    assert p.frame.select("__row", "__line", "a", "b").rows() == [(0, 1, 1, None),
                                                                 (4, 6, 2, "x")]
    assert [(r.row, r.line, r.reason.split(",")[0]) for r in p.rejects] == [
        (1, 2, "line is an array"), (2, 3, "line is a number"),
        (3, 4, "line is not valid JSON: unexpected character")]


def test_ndjson_keeps_types():
    p = parse_ndjson_block(b'{"n":1,"s":"02134","l":[1,2]}\n', "e", 1, 0)
    assert p.frame.schema["n"] == pl.Int64 and p.frame["s"][0] == "02134"
