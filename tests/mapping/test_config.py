from __future__ import annotations

import pytest

from backfill.errors import MappingError
from backfill.mapping.config import check_columns, parse_mapping

GOOD = """\
version: 1
source:
  path: people.csv
  csv: {delimiter: ";", encoding: latin-1}
operations:
  - type: person
    action: identify
    identifiers: {id: user_id, email: email}
    timestamp: updated_at
    attributes:
      plan: {value: premium}
      seats: {column: seats, as: int}
    rest: true
    exclude: [internal_notes]
  - type: person
    action: event
    when: event_name
    identifiers: {id: user_id}
    name: event_name
    timestamp: now
    dedupe_id: none
"""


def test_parses_the_contract_form():
    m = parse_mapping(GOOD, "m.yaml")
    assert m.source.paths == ("people.csv",)
    assert m.source.csv.delimiter == ";" and m.source.csv.encoding == "latin-1"
    person, event = m.operations
    assert [k for k, _ in person.identifiers] == ["id", "email"]
    assert person.timestamp.column == "updated_at" and person.timestamp.as_ == "timestamp"
    attrs = dict(person.attributes)
    assert attrs["plan"].literal == "premium" and attrs["plan"].column is None
    assert attrs["seats"].column == "seats" and attrs["seats"].as_ == "int"
    assert person.rest and person.exclude == ("internal_notes",)
    assert event.when == "event_name" and event.dedupe_id == "none"


def test_every_problem_is_reported_at_once_with_its_line():
    text = """\
version: 2
operations:
  - type: person
    action: identify
    identifiers: {id: user_id}
    atributes: {a: b}
    attributes:
      seats: {column: seats, as: integer}
  - type: person
    action: fly
"""
    with pytest.raises(MappingError) as err:
        parse_mapping(text, "m.yaml")
    problems = {p.line: p.message for p in err.value.problems}
    assert "'version: 1' is required" in problems[1]
    assert "did you mean 'attributes'" in problems[6]
    assert "did you mean 'int'" in problems[8]
    assert "action 'fly' is not supported" in problems[9]
    assert "m.yaml:6:" in str(err.value)


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(MappingError) as err:
        parse_mapping("version: 1\noperations:\n  - type: [person\n", "m.yaml")
    assert err.value.problems[0].line >= 3
    assert "YAML syntax error" in err.value.problems[0].message


@pytest.mark.parametrize("ops, message", [
    ("- {type: person, action: identify}", "'identifiers' is required"),
    ("- {type: person, action: identify, identifiers: {user: x}}", "not one of id, email"),
    ("- {type: object, action: identify, identifiers: {object_id: x}}", "object_type_id and"),
    ("- {type: person, action: event, identifiers: {id: x}}", "'name' is required"),
    ("- {type: person, action: add_relationships, identifiers: {id: x}}",
     "'relationships' is required"),
    ("- {type: person, action: identify, identifiers: {id: x}, nulls: maybe}", "skip or clear"),
    ("- {type: person, action: identify, identifiers: {id: x}, attributes: {a: 5}}",
     "expected a column name"),
])
def test_operation_problems(ops, message):
    with pytest.raises(MappingError) as err:
        parse_mapping(f"version: 1\noperations:\n  {ops}\n", "m.yaml")
    assert any(message in p.message for p in err.value.problems), err.value.problems


def test_missing_columns_get_a_did_you_mean():
    m = parse_mapping(GOOD, "m.yaml")
    problems = check_columns(m, ["user_id", "email", "updated_at", "seat", "event_name",
                                 "internal_notes"], "people.csv")
    assert len(problems) == 1
    assert problems[0].message == "column 'seats' is not in people.csv; did you mean 'seat'?"
    assert problems[0].line == 12
