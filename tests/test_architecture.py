"""The layout keeps its promises (docs/architecture.md): imports only run downward through the
layers, never in a circle; modules and functions stay small, or say why not."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "backfill"
# Each module's layer, by the longest matching prefix; a module may import its own group and the
# groups of lower layers, plus the groups listed as its neighbours.
LAYERS = {
    "backfill._version": 0, "backfill.errors": 0, "backfill.tuning": 0,
    "backfill.contract": 1, "backfill.storage": 1, "backfill.options": 1,
    "backfill.runfiles": 2, "backfill.sources": 2, "backfill.mapping": 2, "backfill.emulator": 2,
    "backfill.nightly": 2.5, "backfill.delivery": 3,
    "backfill.plan": 3.5, "backfill.testing": 3.5, "backfill.flow": 4,
    "backfill.resume": 4.5, "backfill.status": 4.5,
    "backfill.stopping": 4.5, "backfill.saving": 4.5,
    "backfill.starting": 4.5,
    "backfill.runner": 5, "backfill.calling": 5.5, "backfill.api": 6,
    "backfill.demo": 7, "backfill.resumed": 7, "backfill.flags": 7.5, "backfill.cli": 8,
    "backfill.__main__": 9, "backfill": 9,
}
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def group(name: str) -> str:
    return max((g for g in LAYERS if name == g or name.startswith(g + ".")), key=len)


def imports(path: Path) -> set[str]:
    """Every backfill module this one imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("backfill")}
        elif isinstance(node, ast.ImportFrom) and node.module and \
                node.module.startswith("backfill"):
            for alias in node.names:  # `from backfill.x import y`: y may be a module
                sub = f"{node.module}.{alias.name}"
                found.add(sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists()
                          or (PACKAGE.parent / sub.replace(".", "/")).is_dir() else node.module)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: imports(path) - {name} for name, path in MODULES.items()}


def test_imports_run_downward_only():
    upward = []
    for name, targets in GRAPH.items():
        mine = group(name)
        for target in targets:
            theirs = group(target)
            if theirs == mine or theirs == "backfill._version":
                continue
            if LAYERS[theirs] >= LAYERS[mine]:  # same layer: stages see only the contract
                upward.append(f"{name} -> {target}")
    assert upward == []


def test_no_import_cycles():
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in GRAPH.get(node, ()):
            if nxt not in GRAPH or nxt == "backfill":
                continue
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in GRAPH:
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_modules_and_functions_stay_small_or_say_why():
    too_big = []
    for name, path in MODULES.items():
        text = path.read_text()
        if text.count("\n") > MAX_MODULE_LINES and "size: " not in text:
            too_big.append(f"{name}: {text.count(chr(10))} lines")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                said = any("size: " in line for line in lines[node.lineno - 1:node.lineno + 3])
                if length > MAX_FUNCTION_LINES and not said:
                    too_big.append(f"{name}.{node.name}: {length} lines")
    assert too_big == []


def test_every_module_says_its_job():
    assert [name for name, path in MODULES.items()
            if ast.get_docstring(ast.parse(path.read_text())) is None] == []


def test_the_project_stands_alone():
    """No file refers to the design notes outside the repository (a clone does not have them)."""
    files = [*ROOT.glob("*.md"), *ROOT.glob("docs/*.md"), *PACKAGE.rglob("*.py"),
             *ROOT.glob("tests/*.py"), *ROOT.glob("bench/*.py"), *ROOT.glob("configs/*.yaml")]
    assert [str(f.relative_to(ROOT)) for f in files if "../" + "shared" in f.read_text()] == []
