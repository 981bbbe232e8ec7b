"""The shipped JSON Schema of mapping files: in step with the code, and true to the configs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from backfill.mapping.config import OPERATION_KEYS
from backfill.mapping.schema import PATH, mapping_schema, render

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = Draft202012Validator(mapping_schema())


def load(text: str):
    return json.loads(json.dumps(YAML(typ="safe", pure=True).load(text)))


def test_the_shipped_file_is_the_generated_one():
    assert PATH.read_text() == render(), "run: python -m backfill.mapping.schema"


def test_the_schema_covers_every_operation():
    branches = mapping_schema()["properties"]["operations"]["items"]["oneOf"]
    covered = {(b["properties"]["type"]["const"], b["properties"]["action"]["const"])
               for b in branches}
    assert covered == set(OPERATION_KEYS)


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_configs_validate_and_point_to_the_schema(config):
    text = config.read_text()
    assert text.startswith("# yaml-language-server: $schema=../backfill/mapping.schema.json")
    assert list(VALIDATOR.iter_errors(load(text))) == []


@pytest.mark.parametrize("text", re.findall(r"```yaml\n(.*?)```",
                                            (ROOT / "docs" / "mapping.md").read_text(), re.S))
def test_doc_examples_validate(text):
    assert list(VALIDATOR.iter_errors(load(text))) == []


def test_the_schema_catches_mistakes():
    bad = load("version: 1\noperations:\n  - {type: person, action: identify, "
               "identifiers: {id: user_id}, atributes: {a: b}}\n")
    assert list(VALIDATOR.iter_errors(bad))
