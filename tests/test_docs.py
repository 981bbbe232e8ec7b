"""The mapping reference's examples parse, and the sample configs load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backfill.mapping.config import load_mapping, parse_mapping

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "mapping.md").read_text(), re.S)


def test_the_reference_has_examples():
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize("text", EXAMPLES)
def test_each_example_parses(text):
    assert parse_mapping(text, "docs/mapping.md").operations


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=str)
def test_configs_load(path):
    assert load_mapping(path).operations


def test_benchmarks_shows_the_table_of_the_recorded_results():
    """BENCHMARKS.md's results table is `bench/run.py --table`'s, from bench/results.json: the
    page and the raw numbers cannot drift apart."""
    import importlib.util
    import json
    import sys

    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = bench  # its dataclasses look themselves up there
    spec.loader.exec_module(bench)
    table = bench.summarise(json.loads((ROOT / "bench" / "results.json").read_text()))
    page = (ROOT / "BENCHMARKS.md").read_text()
    start = page.index("<!-- generated: bench/run.py --table (from bench/results.json) -->\n")
    end = page.index("\n<!-- end of generated table -->")
    assert page[start:end].rstrip("\n").split("\n")[1:] == table


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings."""
    return {re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
            for line in page.read_text().splitlines() if line.startswith("#")}


def test_every_link_between_the_pages_leads_somewhere():
    pages = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if link.startswith(("http://", "https://", "mailto:")):
                continue
            name, _, anchor = link.partition("#")
            target = page.parent / name if name else page
            if not target.exists() or (anchor and target.suffix == ".md"
                                       and anchor not in _anchors(target)):
                broken.append(f"{page.name}: {link}")
    assert broken == []
