"""The architecture, checked: every module's imports (read with ``ast``, nothing is run) form no cycle and
point one way, from the maths up; no function is longer than about 60 lines without a named reason.

Layers, bottom up (the README's map of the folders):

* the maths: ``network``, ``activations``, ``losses``, ``inputs``, ``errors``, ``_version``, ``gradcheck``,
  with the two base utilities ``_files`` (atomic writes) and ``_optional`` (optional imports);
* ``training/``; ``data/``; ``images/``, ``evaluation/``; and what users run: ``cli/``, ``web/``,
  ``sweep/``, ``sklearn``, plus the compatibility aliases of old module paths.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "nnscratch"

MATHS = {"network", "activations", "losses", "inputs", "errors", "_version", "gradcheck"}
MATHS |= {"_files", "_optional"}  # the base utilities
ABOVE_TRAINING = ("data", "images", "evaluation", "cli", "web", "sweep", "sklearn")

#: Imports that cross a layer rule on purpose, with the reason.
LAYER_EXCEPTIONS = {
    ("nnscratch.training.trainer", "nnscratch.images.augment"): (
        "DeepNeuralNetwork(augment=...) builds its Augmenter from the saved configuration; images.augment "
        "itself imports only the maths (checked below)"
    ),
}

#: Import cycles still to break, with who is breaking them (the test fails when one is gone, so the
#: list only shrinks).
KNOWN_CYCLES: dict[tuple[str, ...], str] = {}

#: Functions over MAX_LINES lines, with the reason they may be.
MAX_LINES = 60
LONG_FUNCTIONS = {
    ("cli/train.py", "_preset_options"): "the train verb's option table, one line over; cli branch to split",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str) -> str | None:
    """The longest prefix of a dotted name that is one of our modules (``a.b.func`` -> ``a.b``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    """Every nnscratch module that ``module`` imports, anywhere in the file (functions included).

    ``from a.b import c`` counts as importing the module ``a.b.c`` when there is one, else ``a.b``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from ..a import b
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names += [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    found = {resolve(name) for name in names if name.startswith("nnscratch")}
    return {m for m in found if m is not None and m != module}


GRAPH = {module: imports_of(module) for module in MODULES}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "nnscratch"


def test_the_walk_sees_the_package():
    assert {"nnscratch.network", "nnscratch.training.trainer", "nnscratch.data"} <= set(MODULES)
    assert "nnscratch.network" in GRAPH["nnscratch.training.trainer"]
    assert "nnscratch.training.engines" in GRAPH["nnscratch.training.trainer"]


def test_no_import_cycles():
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    found = {tuple(sorted(set(c))) for c in cycles}
    new = sorted(found - set(KNOWN_CYCLES))
    assert not new, "import cycles: " + "; ".join(" -> ".join(c) for c in new)
    gone = sorted(set(KNOWN_CYCLES) - found)
    assert not gone, f"these cycles are gone, take them off KNOWN_CYCLES: {gone}"


def crossings(sources, forbidden) -> list[str]:
    bad = []
    for module in sorted(GRAPH):
        if not sources(module):
            continue
        for target in sorted(GRAPH[module]):
            if forbidden(target) and (module, target) not in LAYER_EXCEPTIONS:
                bad.append(f"{module} imports {target}")
    return bad


def test_the_maths_imports_nothing_above_it():
    def is_maths(m: str) -> bool:
        return m.count(".") == 1 and layer_of(m) in MATHS

    assert not crossings(is_maths, lambda t: not is_maths(t))


def test_training_imports_nothing_built_on_it():
    bad = crossings(lambda m: layer_of(m) == "training", lambda t: layer_of(t) in ABOVE_TRAINING)
    assert not bad, bad
    for module, target in LAYER_EXCEPTIONS:  # an exception's target must itself stay low
        below = {t for t in GRAPH[target] if layer_of(t) not in MATHS}
        assert not below, f"{target} (imported by {module}) imports {sorted(below)}"


def test_data_imports_no_training():
    above = ("training", "images", "evaluation")
    bad = crossings(lambda m: layer_of(m) == "data", lambda t: layer_of(t) in above)
    assert not bad, bad


def test_importing_the_data_layer_does_not_load_training():
    code = (
        "import sys, nnscratch.data; "
        "print(sorted(m for m in sys.modules if m.startswith(('nnscratch.training', 'nnscratch.network'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def long_functions() -> dict[tuple[str, str], int]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_LINES:
                    found[(path.relative_to(PACKAGE).as_posix(), node.name)] = length
    return found


def test_functions_are_short_or_say_why():
    found = long_functions()
    unexplained = {k: v for k, v in found.items() if k not in LONG_FUNCTIONS}
    assert not unexplained, f"functions over {MAX_LINES} lines: {unexplained}"
    stale = sorted(set(LONG_FUNCTIONS) - set(found))
    assert not stale, f"no longer over {MAX_LINES} lines, take them off LONG_FUNCTIONS: {stale}"


if __name__ == "__main__":  # python tests/test_architecture.py: list the long functions
    for (file, name), length in sorted(long_functions().items(), key=lambda kv: -kv[1]):
        print(f"{length:4d} lines  {file}:{name}  {LONG_FUNCTIONS.get((file, name), '(no reason given)')}")
    sys.exit(pytest.main([__file__, "-q"]))
