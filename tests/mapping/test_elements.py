"""Relationships from a list column (a Parquet or NDJSON array): one relationship per element,
with attributes from the element's fields when the elements are objects; empty elements left
out; a list where one value is needed, or a field the elements lack, is a mapping error."""

from __future__ import annotations

import orjson
import polars as pl
import pytest

import backfill
from backfill.errors import MappingError

COMPANIES = pl.DataFrame({
    "company": ["c1", "c2", "c3"],
    "member_ids": [["u1", "u2", ""], [], None],
    "members": [[{"id": "u1", "role": "admin"}, {"id": None, "role": "x"}],
                [{"id": "u9", "role": None}], None],
})
BY_IDS = """\
version: 1
operations:
  - type: object
    action: identify
    identifiers: {object_type_id: {value: "1"}, object_id: company}
    relationships:
      - identifiers: {id: member_ids}
"""
BY_FIELDS = """\
version: 1
operations:
  - type: object
    action: add_relationships
    identifiers: {object_type_id: {value: "1"}, object_id: company}
    relationships:
      - identifiers: {id: "members[].id"}
        attributes: {role: "members[].role"}
"""


def sent(tmp_path, mapping: str, source) -> list[dict]:
    dump = tmp_path / "b.ndjson"
    report = backfill.validate(mapping, source, rejects=tmp_path / "r.ndjson", dump_batches=dump)
    assert report.rows_rejected == 0, report.rejects
    return [op for line in dump.read_text().splitlines() for op in orjson.loads(line)["batch"]]


@pytest.mark.parametrize("kind", ["frame", "parquet", "ndjson"])
def test_a_list_of_ids_makes_one_relationship_per_element(tmp_path, kind):
    source = COMPANIES
    if kind == "parquet":
        source = tmp_path / "c.parquet"
        COMPANIES.write_parquet(source)
    elif kind == "ndjson":
        source = tmp_path / "c.ndjson"
        COMPANIES.write_ndjson(source)
    ops = sent(tmp_path, BY_IDS, source if isinstance(source, pl.DataFrame) else str(source))
    assert [op.get("cio_relationships") for op in ops] == [
        [{"identifiers": {"id": "u1"}}, {"identifiers": {"id": "u2"}}], None, None]


def test_a_list_of_objects_gives_each_relationship_its_fields(tmp_path):
    ops = sent(tmp_path, BY_FIELDS, COMPANIES)
    assert [(op["identifiers"]["object_id"], op["cio_relationships"]) for op in ops] == [
        ("c1", [{"identifiers": {"id": "u1"}, "relationship_attributes": {"role": "admin"}}]),
        ("c2", [{"identifiers": {"id": "u9"}, "relationship_attributes": {}}]),  # all empty
    ]  # c3 has none: add_relationships applies only where there are some


def test_a_person_relates_to_the_objects_of_a_list(tmp_path):
    people = pl.DataFrame({"user_id": ["u1"], "company_ids": [["c1", "c2"]]})
    text = ("version: 1\noperations:\n  - type: person\n    action: add_relationships\n"
            "    identifiers: {id: user_id}\n    relationships:\n"
            '      - identifiers: {object_type_id: {value: "1"}, object_id: company_ids}\n')
    ops = sent(tmp_path, text, people)
    assert ops[0]["cio_relationships"] == [
        {"identifiers": {"object_type_id": "1", "object_id": "c1"}},
        {"identifiers": {"object_type_id": "1", "object_id": "c2"}}]


@pytest.mark.parametrize(("mapping", "said"), [
    (BY_IDS.replace("object_id: company}", "object_id: member_ids}"),
     "identifier: column 'member_ids' is a list, where one value is needed"),
    (BY_FIELDS.replace("members[].role", "members[].rol"),
     "the list's elements have no field 'rol'; did you mean 'role'?"),
    (BY_FIELDS.replace('"members[].id"', "members"),
     "each element is an object; name its field"),
    (BY_FIELDS.replace('"members[].role"', "company"),
     "each of its values is a field of that list's elements"),
    (BY_IDS.replace("member_ids}", '"company[].id"}'), "'company' is not a list"),
])
def test_lists_used_wrongly_are_mapping_errors_before_anything_is_sent(tmp_path, mapping, said):
    source = tmp_path / "c.parquet"
    COMPANIES.write_parquet(source)
    with pytest.raises(MappingError, match=said.replace("(", r"\(").replace("[", r"\[")):
        backfill.validate(mapping, str(source))


def test_an_element_id_over_the_limit_rejects_its_row(tmp_path):
    frame = pl.DataFrame({"company": ["c1", "c2"], "member_ids": [["u" * 151], ["u2"]]})
    dump = tmp_path / "b.ndjson"
    report = backfill.validate(BY_IDS, frame, rejects=tmp_path / "r.ndjson", dump_batches=dump)
    assert report.rows_rejected == 1 and "identifier 'id' is 151 bytes" in str(report.rejects)
    assert report.operations_packed == 1  # the row after it goes on
