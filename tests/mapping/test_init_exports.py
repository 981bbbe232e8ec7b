"""`init` on exports shaped like the ones people have (Shopify customers, Stripe charges,
HubSpot contacts, Mailchimp members, a shop's nested orders): the proposed mapping validates as
written, converts nothing wrongly (phone numbers, zip codes and ids stay text, exactly; a
timestamp only where the values are dates from 1990 to 2100), maps an event's time and name,
and addresses a nested person id by its path."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from helpers import write

import backfill

SHOPIFY = (
    "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Phone,Zip,Total Spent,"
    "Total Orders,Tags,Note,Tax Exempt\n"
    "6012345678901,Ada,Lovelace,ada@example.com,yes,+15138741812,02134,1234.50,3,vip,,no\n"
    "6012345678902,Alan,Turing,alan@example.com,no,+447700900123,10001,12.00,1,,hello,no\n")
STRIPE = (
    "id,Amount,Currency,Created (UTC),Customer ID,Customer Email,Status,Card Last4\n"
    "ch_1,20.00,usd,2024-03-04 05:06:07,cus_9,a@example.com,Paid,0042\n"
    "ch_2,5.50,usd,2024-03-05 10:00:00,cus_8,b@example.com,Failed,4242\n")
HUBSPOT = (
    "Record ID,First Name,Email,Phone Number,Create Date,Lifecycle Stage,Postal Code,"
    "Number of Employees\n"
    "101,Grace,grace@example.com,(513) 874-1812,2021-05-06 07:08,lead,07030,250\n"
    "102,Linus,linus@example.com,513-874-1813,2022-11-12 13:14,customer,94105,12\n")
MAILCHIMP = (
    "Email Address,First Name,MEMBER_RATING,OPTIN_TIME,LATITUDE,CC,TIMEZONE,LEID\n"
    "m@example.com,Mia,2,2019-01-02 03:04:05,40.7,US,America/New_York,0123456\n"
    "n@example.com,Noa,5,2020-06-07 08:09:10,-33.9,AU,Australia/Sydney,0123457\n")
EVENTS = (
    "user_id,event,occurred_at,amount,phone\n"
    "u1,purchase,1700000000,3,+15138741812\n"
    "u2,refund,1700003600,1,+15138741813\n")


def proposed(tmp_path, name: str, text: str, kind: str = "person") -> tuple[str, list[dict]]:
    data = write(tmp_path / name, text)
    mapping = write(tmp_path / "m.yaml", backfill.init(str(data), kind))
    dump = tmp_path / "dump.ndjson"
    report = backfill.validate(str(mapping), rejects=tmp_path / "r.ndjson", dump_batches=dump)
    assert report.rows_rejected == 0, report.rejects
    ops = [op for line in dump.read_text().splitlines() for op in orjson.loads(line)["batch"]]
    return mapping.read_text(), ops


@pytest.mark.parametrize(("name", "text", "texts"), [
    ("shopify.csv", SHOPIFY, {"Phone": "+15138741812", "Zip": "02134"}),
    ("stripe.csv", STRIPE, {"Card Last4": "0042"}),
    ("hubspot.csv", HUBSPOT, {"Phone Number": "(513) 874-1812", "Postal Code": "07030"}),
    ("mailchimp.csv", MAILCHIMP, {"LEID": "0123456", "TIMEZONE": "America/New_York"}),
])
def test_init_on_real_exports_validates_and_keeps_codes_as_text(tmp_path, name, text, texts):
    mapping, ops = proposed(tmp_path, name, text)
    assert len(ops) == 2
    attributes = ops[0].get("attributes", {})
    for column, value in texts.items():
        assert attributes[column] == value, (column, mapping)
    for op in ops:  # every timestamp proposed is a plausible date
        for value in [op.get("timestamp"), *op.get("attributes", {}).values()]:
            if isinstance(value, int) and value > 10**8:
                assert 1990 <= datetime.fromtimestamp(value, UTC).year <= 2100, mapping


def test_dates_become_timestamps_and_numbers_numbers_where_they_are(tmp_path):
    mapping, ops = proposed(tmp_path, "stripe.csv", STRIPE)
    attributes = ops[0]["attributes"]
    assert attributes["Created (UTC)"] == int(datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)
                                              .timestamp())
    assert attributes["Amount"] == 20.0 and attributes["Currency"] == "usd"


def test_init_for_events_maps_their_time_and_name(tmp_path):
    mapping, ops = proposed(tmp_path, "events.csv", EVENTS, "event")
    assert "timestamp: occurred_at" in mapping and "name: event" in mapping
    assert [(op["name"], op["timestamp"]) for op in ops] == [("purchase", 1700000000),
                                                             ("refund", 1700003600)]
    assert ops[0]["attributes"]["phone"] == "+15138741812"


def test_init_for_events_without_a_time_says_so_and_sends_them_as_now(tmp_path):
    mapping, ops = proposed(tmp_path, "events.csv", "user_id,event\nu1,signup\n", "event")
    assert "timestamp: now   # no column of times found" in mapping
    assert "timestamp" not in ops[0]


def test_init_on_nested_orders_proposes_the_path_of_the_person(tmp_path):
    rows = [{"order_id": "o1", "customer": {"id": "c1", "email": "a@example.com"},
             "created_at": "2024-01-02T03:04:05Z", "total_price": "12.50"},
            {"order_id": "o2", "customer": {"id": "c2", "email": "b@example.com"},
             "created_at": "2024-01-03T03:04:05Z", "total_price": "3.00"}]
    text = "".join(orjson.dumps(r).decode() + "\n" for r in rows)
    mapping, ops = proposed(tmp_path, "orders.ndjson", text, "event")
    assert 'identifiers: {id: "customer.id"}' in mapping
    assert [op["identifiers"] for op in ops] == [{"id": "c1"}, {"id": "c2"}]
    assert ops[0]["timestamp"] == int(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())
