"""Real exports' dates and null markers: `format:`, `day_first:`, `timezone:` beside
`as: timestamp`, and `null_values:` for the source and per column."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
import polars as pl
import pytest

import backfill
from backfill.errors import MappingError
from backfill.mapping.convert import convert, convert_text
from backfill.mapping.model import TimeFormat


def mapping(attributes: str, source: str = "") -> str:
    return ("version: 1\n" + source + "operations:\n  - type: person\n    action: identify\n"
            "    identifiers: {id: user_id}\n    attributes:\n" + attributes)


def sent(tmp_path, text: str, frame: pl.DataFrame) -> tuple[list[dict], list[dict]]:
    bodies, rejects = tmp_path / "bodies", tmp_path / "rejects"
    backfill.validate(text, frame, rejects, bodies)
    ops = [op for line in bodies.read_bytes().splitlines() for op in orjson.loads(line)["batch"]]
    bad = [orjson.loads(line) for line in rejects.read_bytes().splitlines()] \
        if rejects.exists() else []
    return ops, bad


def epoch(*parts: int, zone: str = "UTC") -> int:
    return int(datetime(*parts, tzinfo=ZoneInfo(zone) if zone != "UTC" else UTC).timestamp())


def test_us_dates_are_rejected_with_the_fix_named_and_read_with_a_format(tmp_path):
    frame = pl.DataFrame({"user_id": ["u1", "u2"], "signup": ["10/23/2022", "17 Dec 2021"]})
    ops, bad = sent(tmp_path, mapping("      signup: {column: signup, as: timestamp}\n"), frame)
    assert [op["attributes"]["signup"] for op in ops] == [epoch(2021, 12, 17)]
    assert "day_first: true" in bad[0]["reason"] and "format: '%m/%d/%Y'" in bad[0]["reason"]
    ops, bad = sent(tmp_path, mapping("      signup: {column: signup, as: timestamp, "
                                      "format: '%m/%d/%Y'}\n"), frame)
    assert not bad
    assert [op["attributes"]["signup"] for op in ops] == [epoch(2022, 10, 23),
                                                          epoch(2021, 12, 17)]


def test_a_list_of_formats_is_tried_in_order(tmp_path):
    frame = pl.DataFrame({"user_id": ["u1", "u2", "u3"],
                          "at": ["01.02.2023 10:30", "2023/02/01", "20230201"]})
    ops, bad = sent(tmp_path, mapping(
        "      at: {column: at, as: timestamp, format: ['%d.%m.%Y %H:%M', '%Y%m%d']}\n"), frame)
    assert not bad
    # "20230201" is also an epoch time (1970), but the mapping's own formats come first
    assert [op["attributes"]["at"] for op in ops] == [
        epoch(2023, 2, 1, 10, 30), epoch(2023, 2, 1), epoch(2023, 2, 1)]


@pytest.mark.parametrize(("day_first", "want"), [(True, (2024, 4, 3)), (False, (2024, 3, 4))])
def test_day_first_decides_ambiguous_dates(day_first, want):
    out, failed = convert_text(pl.Series(["03/04/2024", "03-04-2024 08:00", "2024-03-04"]),
                               "timestamp", TimeFormat(day_first=day_first))
    assert out.to_list() == [epoch(*want), epoch(*want, 8), epoch(2024, 3, 4)]
    assert not failed.any()


def test_a_timezone_applies_to_values_without_an_offset_only(tmp_path):
    frame = pl.DataFrame({"user_id": ["u1", "u2", "u3"],
                          "at": ["2024-07-01 09:00:00", "2024-07-01T09:00:00+00:00", "1700000000"]})
    ops, _ = sent(tmp_path, mapping("      at: {column: at, as: timestamp, "
                                    "timezone: America/New_York}\n"), frame)
    assert [op["attributes"]["at"] for op in ops] == [
        epoch(2024, 7, 1, 9, zone="America/New_York"), epoch(2024, 7, 1, 9), 1700000000]


def test_a_parquet_wall_clock_time_takes_the_timezone():
    value, _ = convert(pl.col("t"), pl.Datetime("us"), "timestamp",
                       TimeFormat(timezone="Europe/Paris"))
    frame = pl.DataFrame({"t": [datetime(2024, 1, 1, 12)]})
    assert frame.select(value).item() == epoch(2024, 1, 1, 12, zone="Europe/Paris")


def test_the_full_and_the_cheap_readings_agree_with_a_format():
    time = TimeFormat(formats=("%d/%m/%Y",), timezone="Asia/Tokyo")
    values = ["23/10/2022", "2022-10-23", "17 Dec 2021", "nope", "", None, "1700000000"]
    full, full_failed = convert(pl.col("t"), pl.String, "timestamp", time)
    frame = pl.DataFrame({"t": values}, schema={"t": pl.String}).select(full, full_failed.alias("f"))
    out, failed = convert_text(pl.Series(values, dtype=pl.String), "timestamp", time)
    assert out.to_list() == frame["t"].to_list() and failed.to_list() == frame["f"].to_list()


@pytest.mark.parametrize(("value", "message"), [
    ("{column: at, format: '%Y'}", "add 'as: timestamp'"),
    ("{column: at, as: timestamp, format: 'YYYY-MM-DD'}", "strftime pattern"),
    ("{column: at, as: timestamp, timezone: Mars/Olympus}", "not a time zone"),
    ("{column: at, as: timestamp, day_first: maybe}", "day_first"),
    ("{column: at, null_values: [N/A, null]}", "quote them"),
])
def test_mistakes_in_the_options_are_mapping_errors_with_their_line(value, message):
    with pytest.raises(MappingError) as caught:
        backfill.validate(mapping(f"      at: {value}\n"), pl.DataFrame({"user_id": ["u1"],
                                                                      "at": ["x"]}))
    assert message in str(caught.value) and ":7:" in str(caught.value)


def test_null_markers_for_the_source_and_for_one_column(tmp_path):
    frame = pl.DataFrame({"user_id": ["u1", "N/A", "u3"], "plan": ["none", "pro", " - "],
                          "city": ["none", "-", "Paris"]})
    ops, bad = sent(tmp_path, mapping(
        "      plan: {column: plan, null_values: none}\n      city: city\n",
        "source: {null_values: ['N/A', '-']}\n"), frame)
    assert [op["identifiers"]["id"] for op in ops] == ["u1", "u3"]
    assert ops[0]["attributes"] == {"city": "none"}  # "none" is empty for plan only
    assert ops[1]["attributes"] == {"city": "Paris"}  # " - " is empty: spaces aside
    assert bad[0]["record"]["user_id"] == "N/A"  # the row as read
    assert "no identifier" in bad[0]["reason"]


@pytest.mark.parametrize(("options", "text", "expected"), [
    ('thousands: ","', "1,234.50", 1234.5),
    ('thousands: ","', "1,000,000", 1000000.0),
    ('thousands: ","', "-1,234", -1234.0),
    ('thousands: ","', "1234.5", 1234.5),  # grouping is optional
    ('thousands: ".", decimal: ","', "1.234,50", 1234.5),
    ('decimal: ","', "12,5", 12.5),
    ('thousands: " ", decimal: ","', "1 234,5", 1234.5),
    ('thousands: "\'"', "1'234.5", 1234.5),
    ('thousands: ",", currency: true', "$1,234.50", 1234.5),
    ('thousands: ",", currency: true', "-$5", -5.0),
    ('thousands: ".", decimal: ",", currency: true', "1.234,50 €", 1234.5),
    ('thousands: ",", currency: true', "USD 99", 99.0),
])
def test_numbers_written_for_people_are_read_with_thousands_decimal_and_currency(
        tmp_path, options, text, expected):
    frame = pl.DataFrame({"user_id": ["u1"], "v": [text]})
    ops, bad = sent(tmp_path, mapping(f"      v: {{column: v, as: float, {options}}}\n"), frame)
    assert bad == [] and ops[0]["attributes"]["v"] == expected


@pytest.mark.parametrize(("options", "text"), [
    ('thousands: ","', "1,2,3"),  # not grouped by three
    ('thousands: ","', "12,34.5"),
    ('thousands: ","', "$5"),  # a currency sign without currency: true
    ('thousands: ",", currency: true', "$"),
    ('decimal: ","', "1.5"),  # the other decimal mark
    ('thousands: ","', "abc"),
])
def test_a_number_not_so_written_is_rejected_with_its_value(tmp_path, options, text):
    frame = pl.DataFrame({"user_id": ["u1", "u2"], "v": [text, "7"]})
    ops, bad = sent(tmp_path, mapping(f"      v: {{column: v, as: float, {options}}}\n"), frame)
    assert [op["attributes"]["v"] for op in ops] == [7.0]  # the row after it goes on
    assert len(bad) == 1 and f'value "{text}" is not a float' in bad[0]["reason"]


def test_as_int_with_thousands_takes_whole_numbers_only(tmp_path):
    frame = pl.DataFrame({"user_id": ["u1", "u2", "u3"], "v": ["9,273", "1,234.50", ""]})
    ops, bad = sent(tmp_path, mapping('      v: {column: v, as: int, thousands: ","}\n'), frame)
    assert [op.get("attributes", {}).get("v") for op in ops] == [9273, None]
    assert len(bad) == 1 and '"1,234.50" is not an int' in bad[0]["reason"]


@pytest.mark.parametrize(("options", "said"), [
    ('as: timestamp, thousands: ","', "'thousands' reads numbers: add 'as: float'"),
    ('as: float, thousands: "x"', "'thousands' is the digit-group separator"),
    ('as: float, decimal: ";"', "'decimal' is '.' or ','"),
    ('as: float, thousands: ",", decimal: ","', "both ','"),
    ('as: float, currency: "yes"', "'currency' is true"),
])
def test_number_options_that_cannot_work_are_mapping_errors(options, said):
    with pytest.raises(MappingError, match=said):
        backfill.validate(mapping(f"      v: {{column: v, {options}}}\n"),
                          pl.DataFrame({"user_id": ["u1"], "v": ["1"]}))
