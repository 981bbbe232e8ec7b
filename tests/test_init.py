from __future__ import annotations

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import write

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
