"""The benchmark suite runs (on a tiny input): a benchmark, not a test of speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_the_suite_runs_on_a_tiny_input(tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "bench/run.py", "--rows", "3000", "--events", "2000",
                           "--rate-seconds", "2", "--mapping-rows", "500", "--repeat", "1",
                           "--json", str(out)],
                          cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    measures = results["people 3,000"]["measures"]
    assert {"floor", "validate", "run", "hand-written", "official client"} <= set(measures)
    assert set(measures) - {"floor", "validate", "run", "hand-written", "official client"} in (
        set(), {"run (nginx)", "run (nginx https)", "hand-written (nginx)",
                "official client (nginx https)"})  # nginx when the machine has it
    assert all(m["rows"] == 3000 and m["seconds"] > 0 and m["max_rss_mb"] > 0
               for m in measures.values())
    assert results["rate"]["requests"] == 400 + 1  # the forms, and the endpoint check
    assert "| people 3,000: validate / floor |" in done.stdout
    kinds = {k for k in results if k.startswith("mapping ")}
    assert {"mapping people", "mapping events", "mapping forms"} <= kinds
    assert all(set(results[k]["measures"]) == {"floor", "validate"}
               and results[k]["rows"] >= 500 for k in kinds)
