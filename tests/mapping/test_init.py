from __future__ import annotations

import polars as pl
import pytest
from click.testing import CliRunner
from helpers import write

from backfill.cli import cli
from backfill.mapping.config import check_columns, parse_mapping
from backfill.mapping.starter import guess


@pytest.mark.parametrize("column, values, as_", [
    ("seats", ["1", "20", "300", "abc"] + ["5"] * 200, "int"),  # a stray bad value: still int
    ("zip", ["02134", "90210"], None),  # leading zeros: a code
    ("phone", ["4155552671", "4155550000"], None),  # code-like name
    ("price", ["1.5", "20", "3.25"], "float"),
    ("vip", ["true", "False", "yes"], "bool"),
    ("signup_date", ["2024-01-02", "2024-03-04T05:06:07Z"], "timestamp"),
    ("created_at", ["1700000000", "1700000000123"], "timestamp"),
    ("meta", ['{"a": 1}', "[1, 2]"], "json"),
    ("name", ["Ann", "Bob"], None),
])
def test_guesses(column, values, as_):
    assert guess(column, pl.Series(values)).as_ == as_


@pytest.mark.parametrize("kind", ["person", "object", "event"])
def test_init_prints_a_mapping_that_loads_as_is(tmp_path, kind):
    data = write(tmp_path / "export.csv",
                 "user_id,email,event,occurred_at,zip,seats,company_id\n"
                 "u1,a@x.com,signup,2024-01-02T00:00:00Z,02134,3,acme\n"
                 "u2,b@x.com,login,2024-01-03T00:00:00Z,00501,4,globex\n")
    result = CliRunner().invoke(cli, ["init", str(data), "--type", kind])
    assert result.exit_code == 0, result.output
    mapping = parse_mapping(result.output, "init.yaml")
    assert check_columns(mapping, ["user_id", "email", "event", "occurred_at", "zip", "seats",
                                   "company_id"], "export.csv") == []
    out = CliRunner().invoke(cli, ["validate", str(write(tmp_path / "m.yaml", result.output)),
                                   str(data), "--rejects", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    if kind == "person":
        assert "identifiers: {id: user_id}" in result.output
        assert "zip: zip" in result.output and "{column: seats, as: int}" in result.output
    if kind == "event":
        assert "name: event" in result.output and "timestamp: occurred_at" in result.output
    if kind == "object":
        assert "object_id: company_id" in result.output


@pytest.mark.parametrize("column, values, as_, day_first", [
    ("joined", ["10/23/2022", "01/02/2022", "11/30/2021 14:05"], "timestamp", False),
    ("joined", ["23/10/2022", "01/02/2022"], "timestamp", True),
    ("mixed", ["1700000000", "2022-10-23T00:00:00Z", "17 Dec 2021"], "timestamp", None),
    ("active", ["Yes", "No", "TRUE", "0"], "bool", None),
    ("count", ["1", "0", "1"], "int", None),  # digits only: numbers, not booleans
])
def test_guesses_the_forms_the_conversions_take(column, values, as_, day_first):
    g = guess(column, pl.Series(values))
    assert (g.as_, g.day_first) == (as_, day_first)


def test_init_reads_a_windows_1252_semicolon_file_and_says_how(tmp_path):
    data = tmp_path / "crm.csv"
    data.write_bytes("customer_id;name;signup\nc1;José;23/10/2022\nc2;Zoë;01/02/2022\n"
                     .encode("cp1252"))
    result = CliRunner().invoke(cli, ["init", str(data)])
    assert result.exit_code == 0, result.output
    assert 'csv: {encoding: "cp1252", delimiter: ";"}' in result.output
    assert '"José"' in result.output and "day_first: true" in result.output
    mapping = write(tmp_path / "crm.yaml", result.output)
    out = CliRunner().invoke(cli, ["validate", str(mapping), "--quiet"])
    assert out.exit_code == 0 and "2 rows mapped, 0 rejected" in out.output, out.output


def test_init_speaks_the_mappings_words_for_typed_columns(tmp_path):
    data = write(tmp_path / "e.ndjson", '{"user_id": "u1", "props": {"revenue": 1.5}, '
                                        '"tags": ["a"], "n": 3}\n')
    text = CliRunner().invoke(cli, ["init", str(data)]).output
    assert "an object in the file (revenue)" in text and "a list in the file" in text
    assert "whole numbers in the file" in text
    assert "Struct" not in text and "List(" not in text and "Int64" not in text
