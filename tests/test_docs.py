"""The mapping reference's examples parse, and the sample configs load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backfill.mapping.config import load_mapping, parse_mapping

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "mapping.md").read_text(), re.S)


def test_the_reference_has_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("text", EXAMPLES)
def test_each_example_parses(text):
    assert parse_mapping(text, "docs/mapping.md").operations


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=str)
def test_configs_load(path):
    assert load_mapping(path).operations
