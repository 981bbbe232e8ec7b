from __future__ import annotations

import csv
import io

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backfill.sources.parse import CsvLayout, _csv_exact, parse_csv_block
from backfill.sources.parse_ndjson import parse_ndjson_block

LAYOUT = CsvLayout(("id", "name", "zip"))


def rows(parsed):
    return parsed.frame.select("__row", "__line", "id", "name", "zip").rows()


def test_marked_path_keeps_strings_and_numbers_rows_and_lines():
    p = parse_csv_block(b"1,Ann,02134\n2,Bob,00501\n", LAYOUT, "f.csv", 2, 0)
    assert p.path == "marked"
    assert rows(p) == [(0, 2, "1", "Ann", "02134"), (1, 3, "2", "Bob", "00501")]


@pytest.mark.parametrize("block, expected", [
    (b"1,Ann,\n2,,\n", [(0, 2, "1", "Ann", ""), (1, 3, "2", "", "")]),  # empty last fields
    (b'1,"A, nn",""\r\n2,"",x\r\n', [(0, 2, "1", "A, nn", ""), (1, 3, "2", "", "x")]),
    (b"1,Ann,z\n2,Bob,y", [(0, 2, "1", "Ann", "z"), (1, 3, "2", "Bob", "y")]),  # no final newline
])
def test_marked_path_with_empty_last_fields_quotes_and_crlf(block, expected):
    p = parse_csv_block(block, LAYOUT, "f.csv", 2, 0)
    assert p.path == "marked" and not p.rejects
    assert rows(p) == expected


@pytest.mark.parametrize("block", [
    b"1,a,1\n2,b\n",  # short
    b"1,a,1\n2,b,2,3\n",  # long
    b"1,a,1\n\n2,b,2\n",  # blank line
    b"1,a,1\n2,b,2\r3,c,3\n",  # a lone carriage return
])
def test_marked_path_declines_what_it_cannot_prove(block):
    assert parse_csv_block(block, LAYOUT, "f.csv", 2, 0).path != "marked"


FIELDS = st.sampled_from(["", "a", "Ann", "a,b", 'q"u', "x\ny", " ", "é", "1.5", "\u2028"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(FIELDS, min_size=1, max_size=5), min_size=1, max_size=8),
       st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_every_path_agrees_with_pythons_csv_module(records, newline, final_newline):
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator=newline).writerows(records)
    block = out.getvalue().encode()
    if not final_newline:
        block = block.removesuffix(newline.encode())
    p = parse_csv_block(block, LAYOUT, "f.csv", 2, 0)
    exact = _csv_exact(block, LAYOUT, "f.csv", 2, 0, False)
    for hint in ({"c0"}, {"c1"}, {"c2"}, {"c0", "c2"}):  # a hint never changes the result
        hinted = parse_csv_block(block, LAYOUT, "f.csv", 2, 0, spanned=set(hint))
        assert (hinted.frame.rows(), hinted.lines) == (p.frame.rows(), p.lines)
    assert p.frame.rows() == exact.frame.rename(
        dict(zip(exact.frame.columns[:3], LAYOUT.columns, strict=True))).rows()
    assert [(r.row, r.line, r.reason) for r in p.rejects] == [
        (r.row, r.line, r.reason) for r in exact.rejects]
    assert p.records == exact.records


def test_quoted_newlines_shift_the_physical_lines():
    p = parse_csv_block(b'1,"A\nB\nC",1\n2,x,2\n', LAYOUT, "f.csv", 2, 10)
    assert p.path == "marked"
    assert rows(p) == [(10, 2, "1", "A\nB\nC", "1"), (11, 5, "2", "x", "2")]


def test_a_lone_newline_in_a_quoted_field_of_a_crlf_file_counts_as_a_line():
    # "\r\n" endings get the markers; the "\n" inside the quotes gets none, and is still a line
    p = parse_csv_block(b'1,"A\nB",1\r\n2,x,2\r\n', LAYOUT, "f.csv", 2, 10)
    assert p.path == "marked"
    assert rows(p) == [(10, 2, "1", "A\nB", "1"), (11, 4, "2", "x", "2")]


def test_columns_with_quoted_newlines_are_kept_from_block_to_block_and_never_change_a_result():
    spanned: set[str] = set()
    first = parse_csv_block(b'1,"A\nB",1\n2,x,2\n', LAYOUT, "f.csv", 2, 0, spanned=spanned)
    assert first.path == "marked" and spanned == {"c1"}  # `name`, as a positional column
    # the next block has newlines in `zip` too: the hint alone leaves a line uncounted, so every
    # column is scanned, and the lines are right
    block = b'3,"C\nD","9\n8"\n4,y,4\n'
    p = parse_csv_block(block, LAYOUT, "f.csv", 4, 2, spanned=spanned)
    assert rows(p) == [(2, 4, "3", "C\nD", "9\n8"), (3, 7, "4", "y", "4")]
    assert spanned == {"c1", "c2"}
    assert rows(parse_csv_block(block, LAYOUT, "f.csv", 4, 2)) == rows(p)


def test_short_and_long_rows_are_rejected_and_the_rest_kept():
    block = b"1,a,1\n2,b\n3,c,3,extra\n\n4,d,\n"
    p = parse_csv_block(block, LAYOUT, "f.csv", 2, 0)
    assert p.path == "lines"
    assert rows(p) == [(0, 2, "1", "a", "1"), (3, 6, "4", "d", "")]
    assert [(r.row, r.line, r.stage) for r in p.rejects] == [(1, 3, "read"), (2, 4, "read")]
    assert "too few fields: 2 where the header has 3" in p.rejects[0].reason
    assert p.rejects[1].record["_extra_fields"] == ["extra"]
    assert p.records == 4  # the blank line is not a row


def test_a_short_record_among_quoted_fields_is_read_again_alone():
    block = b'1,"a, b",""\n2,"x"\n3,"q""uote",3\n'
    p = parse_csv_block(block, LAYOUT, "f.csv", 2, 0)
    assert p.path == "marked+rejects"
    assert rows(p) == [(0, 2, "1", "a, b", ""), (2, 4, "3", 'q"uote', "3")]
    assert p.rejects[0].record == {"id": "2", "name": "x"}


def test_malformed_rows_beside_quoted_newlines_are_read_again_alone():
    block = b'1,"a, b",1\n2,"x\ny"\n3,"q""uote",3\n'
    p = parse_csv_block(block, LAYOUT, "f.csv", 2, 0)
    assert p.path == "marked+rejects"  # not the whole block through Python's csv module
    assert rows(p) == [(0, 2, "1", "a, b", "1"), (2, 5, "3", 'q"uote', "3")]
    assert [(r.row, r.line) for r in p.rejects] == [(1, 3)]


def test_invalid_utf8_rejects_the_row_only():
    p = parse_csv_block(b"1,ok,1\n2,\xff\xfe,2\n3,\xc3\xa9,3\n", LAYOUT, "f.csv", 2, 0)
    assert [r[2] for r in rows(p)] == ["1", "3"]
    assert rows(p)[1][3] == "é"
    assert p.rejects[0].row == 1 and "not valid in the declared encoding" in p.rejects[0].reason


def test_short_and_long_rows_of_a_block_with_invalid_utf8_are_read_again_alone():
    p = parse_csv_block(b"1,\xff,1\n2,b\n3,c,3\n4,d,4,5\n", LAYOUT, "f.csv", 2, 0)
    assert p.path == "marked+rejects" and [r[2] for r in rows(p)] == ["3"]
    assert [(r.row, r.line, r.record) for r in p.rejects] == [
        (0, 2, {"id": "1", "name": "\ufffd", "zip": "1"}), (1, 3, {"id": "2", "name": "b"}),
        (3, 5, {"id": "4", "name": "d", "zip": "4", "_extra_fields": ["5"]})]


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


def test_a_latin1_reject_names_the_encoding_option():
    block = "1,Jos\ufffd\n".encode()  # as the stream hands it on: invalid bytes replaced
    parsed = parse_csv_block(block, CsvLayout(("id", "name")), "x.csv", 2, 0, lossy=True)
    assert parsed is not None and parsed.rejects
    assert "set source.csv.encoding (latin-1, cp1252" in parsed.rejects[0].reason


def test_a_blank_line_beside_quoted_newlines_takes_the_exact_path():
    block = b'1,"a\nb",1\n\n2,x\n'
    p = parse_csv_block(block, LAYOUT, "f.csv", 2, 0)
    assert p.path == "exact" and p.records == 2
    assert [(r.row, r.line) for r in p.rejects] == [(1, 5)]
