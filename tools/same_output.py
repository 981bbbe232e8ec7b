"""What `validate` makes of every shipped config (on its sample data) and of every file of the
tests' corpus (with the mapping its test pairs it with): the bodies exactly as `run` would send
them, the rejects file and the report (its timings and paths removed), one folder per case.

Run it on two checkouts and compare the folders: a change that must not change behaviour (a
rename, a move, a refactoring) leaves them byte-identical.

    python tools/same_output.py OUT            # in this checkout
    git worktree add /tmp/before HEAD~1 && (cd /tmp/before && python tools/same_output.py /tmp/a)
    python tools/same_output.py /tmp/b && diff -r /tmp/a /tmp/b && echo identical
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOLATILE = ("elapsed_s", "estimated_send_s", "rows_per_s", "rejects_file", "checkpoint",
            "started_at", "finished_at", "inputs")


def corpus_cases() -> list[tuple[str, str]]:
    """(input, mapping) pairs of tests/mapping/test_corpus.py's CASES, read without importing
    it; every other corpus file with people.yaml."""
    tree = ast.parse(next(ROOT.glob("tests/**/test_corpus.py")).read_text())
    named: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "CASES"
                                                for t in node.targets):
            for case in node.value.elts:  # type: ignore[attr-defined]
                named[case.elts[0].value] = case.elts[1].value
    inputs = sorted(p.name for p in (ROOT / "tests/corpus").iterdir()
                    if p.suffix not in (".yaml", ".py"))
    return [(name, named.get(name, "people.yaml")) for name in inputs]


def validate(out: Path, mapping: Path, inputs: list[Path]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "backfill", "validate", str(mapping), *map(str, inputs),
         "--quiet", "--dump-batches", str(out / "bodies.ndjson"), "--rejects",
         str(out / "rejects.ndjson"), "--report", str(out / "report.json")],
        cwd=ROOT, capture_output=True, text=True)
    (out / "exit").write_text(f"{done.returncode}\n")
    for made in out.iterdir():  # the checkout's own folder is not part of the output
        made.write_bytes(made.read_bytes().replace(str(ROOT).encode(), b"ROOT"))
    report = out / "report.json"
    if report.exists():
        data = json.loads(report.read_text())
        for key in VOLATILE:
            data.pop(key, None)
        report.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def main(out: Path) -> None:
    for config in sorted((ROOT / "configs").glob("*.yaml")):
        validate(out / "configs" / config.stem, config, [])
    for name, mapping in corpus_cases():
        validate(out / "corpus" / name, ROOT / "tests/corpus" / mapping,
                 [ROOT / "tests/corpus" / name])
    print(f"{len(list(out.glob('*/*')))} cases in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
