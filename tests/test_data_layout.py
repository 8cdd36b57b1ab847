"""The data package's architecture: no import cycles, nothing above it imported, one home for digests."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nnscratch

SRC = Path(nnscratch.__file__).resolve().parent
DATA = SRC / "data"
#: What the data layer may import from nnscratch besides itself: the bottom of the house.
ALLOWED = {"nnscratch._files", "nnscratch.errors", "nnscratch.inputs", "nnscratch._optional"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """Every nnscratch module ``path`` imports, at the top, inside functions or under TYPE_CHECKING."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("nnscratch"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nnscratch"):
            for alias in node.names:  # `from nnscratch.data import cache` imports the module cache
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _is_module(sub) else node.module)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(DATA.glob("*.py"))}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt in graph and nxt not in state and (found := visit(nxt, [*path, node])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [])):
            return found
    return None


def test_the_data_package_has_no_import_cycle() -> None:
    graph = _graph()
    assert "nnscratch.data.pypi_wheel" in graph["nnscratch.data.download"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_data_package_imports_nothing_above_it() -> None:
    outside = {
        (mod, dep)
        for mod, deps in _graph().items()
        for dep in deps
        if not dep.startswith("nnscratch.data") and dep not in ALLOWED
    }
    assert outside == set()


def test_import_nnscratch_data_does_not_load_the_training_stack() -> None:
    code = (
        "import sys, nnscratch.data; "
        "print(sorted(m for m in sys.modules if m.startswith(('nnscratch.training', 'nnscratch.network', "
        "'nnscratch.cli', 'nnscratch.images', 'nnscratch.evaluation', 'matplotlib', 'scipy'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_checksums_are_computed_and_compared_in_one_module() -> None:
    """hashlib and the md5/sha256 comparison live in data/digests.py only."""
    for path in sorted(DATA.glob("*.py")):
        if path.name == "digests.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert "hashlib" not in text, path.name
        assert (
            ".sha256 !=" not in text and ".md5 !=" not in text and "(fspec.md5, fspec.sha256)" not in text
        ), path.name


def test_no_function_of_the_data_package_is_over_60_lines() -> None:
    long = {}
    for path in sorted(DATA.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    long[f"{path.name}:{node.name}"] = length
    assert long == {}
