"""Paths into nested values (`customer.id`, `items[0].sku`) wherever a column is named: for
NDJSON objects and Parquet structs, a column literally named so winning; a wrong path is a
mapping error with its line and a "did you mean" from the nested keys; a struct or list mapped
whole is sent as its JSON, its nulls following `nulls:`."""

from __future__ import annotations

import orjson
import polars as pl
import pytest
from helpers import write

import backfill
from backfill.errors import MappingError
from backfill.mapping.config import parse_mapping
from backfill.mapping.encode import Encoder
from backfill.mapping.paths import resolve, split

ORDERS = [
    {"order_id": "o1", "customer": {"id": "c1", "address": {"city": "Paris", "line2": None}},
     "items": [{"sku": "s1", "qty": 2}, {"sku": "s2", "qty": 1}], "placed": "2024-01-02T03:04:05Z"},
    {"order_id": "o2", "customer": {"id": "c2", "address": {"city": None, "line2": "x"}},
     "items": [], "placed": "2024-01-03T03:04:05Z"},
]
MAPPING = """\
version: 1
operations:
  - type: person
    action: event
    identifiers: {id: customer.id}
    name: order_id
    timestamp: placed
    nulls: NULLS
    attributes: {address: customer.address, city: customer.address.city,
                 first_sku: "items[0].sku", first_qty: {column: "items[0].qty", as: string}}
"""


def ndjson(tmp_path, rows=ORDERS):
    return write(tmp_path / "orders.ndjson", "".join(orjson.dumps(r).decode() + "\n"
                                                      for r in rows))


def sent(tmp_path, mapping: str, source) -> list[dict]:
    dump = tmp_path / "bodies.ndjson"
    report = backfill.validate(mapping, source, rejects=tmp_path / "r.ndjson", dump_batches=dump)
    assert report.rows_rejected == 0, report.rejects
    return [op for line in dump.read_text().splitlines() for op in orjson.loads(line)["batch"]]


@pytest.mark.parametrize("text", ["ndjson", "parquet"])
def test_paths_address_nested_fields_of_ndjson_and_parquet(tmp_path, text):
    source = ndjson(tmp_path)
    if text == "parquet":
        source = tmp_path / "orders.parquet"
        pl.read_ndjson(ndjson(tmp_path)).write_parquet(source)
    ops = sent(tmp_path, MAPPING.replace("NULLS", "skip"), [str(source)])
    assert [op["identifiers"] for op in ops] == [{"id": "c1"}, {"id": "c2"}]
    assert ops[0]["attributes"] == {"address": {"city": "Paris"}, "city": "Paris",
                                    "first_sku": "s1", "first_qty": "2"}
    assert ops[1]["attributes"] == {"address": {"line2": "x"}}  # nulls: skip, inside too


def test_nulls_clear_keeps_the_nulls_inside_a_nested_value(tmp_path):
    ops = sent(tmp_path, MAPPING.replace("NULLS", "clear"), [str(ndjson(tmp_path))])
    assert ops[0]["attributes"]["address"] == {"city": "Paris", "line2": None}
    assert ops[1]["attributes"] == {"address": {"city": None, "line2": "x"}, "city": None,
                                    "first_sku": None, "first_qty": None}


def test_a_column_literally_named_like_the_path_wins(tmp_path):
    frame = pl.DataFrame({"customer": [{"id": "nested"}], "customer.id": ["literal"],
                          "order_id": ["o1"], "placed": ["2024-01-02T03:04:05Z"]})
    text = MAPPING.replace("NULLS", "skip").split("    attributes:")[0]
    assert sent(tmp_path, text, frame)[0]["identifiers"] == {"id": "literal"}


@pytest.mark.parametrize(("path", "said"), [
    ("customer.idd", "'customer' has no field 'idd'; did you mean 'customer.id'?"),
    ("items.sku", "'items' is a list: write items[0].sku"),
    ("customer.id.x", "'customer.id' is text, not an object"),
    ("custmer.id", "orders.ndjson; did you mean 'customer.id'?"),
])
def test_a_wrong_path_is_a_mapping_error_with_its_line_and_a_hint(tmp_path, path, said):
    text = MAPPING.replace("NULLS", "skip").replace("{id: customer.id}", f"{{id: {path}}}")
    with pytest.raises(MappingError) as caught:
        backfill.validate(text, [str(ndjson(tmp_path))])
    assert said in str(caught.value) and ":5:" in str(caught.value)


def test_a_path_into_a_csv_column_is_a_mapping_error(tmp_path):
    data = write(tmp_path / "orders.csv", "order_id,customer,placed\no1,c1,2024-01-02\n")
    text = MAPPING.replace("NULLS", "skip").split("    attributes:")[0]
    with pytest.raises(MappingError, match="'customer' is text, not an object"):
        backfill.validate(text, [str(data)])


def test_a_field_missing_from_a_later_block_is_empty_there():
    """Sparse NDJSON: a block whose objects lack the field (or whose column is all null) maps
    it as empty, as a column absent from a block is."""
    text = MAPPING.replace("NULLS", "skip").replace("{id: customer.id}", "{id: order_id}")
    encoder = Encoder(parse_mapping(text, "m.yaml"))
    later = pl.DataFrame({"order_id": ["late", "null"], "customer": [{"other": 1}, None],
                          "items": [None, None], "placed": ["2024-01-02T03:04:05Z"] * 2})
    for frame in (later, later.with_columns(pl.lit(None).alias("customer"))):
        encoded = encoder.encode(frame)
        ops = [orjson.loads(t) for t in encoded.ops.get_column("json")]
        assert [op["identifiers"] for op in ops] == [{"id": "late"}, {"id": "null"}]
        assert not any("attributes" in op for op in ops) and not encoded.rejects


@pytest.mark.parametrize(("name", "steps"), [
    ("customer.id", ["customer", "id"]), ("items[0].sku", ["items", 0, "sku"]),
    ("a.b[2]", ["a", "b", 2]), ("plain", None), ("a..b", None), ("a[x]", None), ("a.", None),
])
def test_split(name, steps):
    assert split(name) == steps


def test_resolve_takes_the_longest_dotted_column_as_the_root():
    schema = {"a": pl.Struct({"b": pl.Struct({"c": pl.Int64})}),
              "a.b": pl.Struct({"c": pl.String})}
    got = resolve("a.b.c", schema)
    assert not isinstance(got, str) and got is not None and got.dtype == pl.String
