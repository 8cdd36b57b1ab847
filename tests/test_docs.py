"""The tutorial notebook (docs/tutorial.py) runs top to bottom on real MNIST, and its page builds."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
SECTIONS = [
    "## 1. The data",
    "## 2. The architecture",
    "## 3. The forward pass",
    "## 4. The loss",
    "## 5. Backpropagation",
    "## 6. Training",
    "## 7. Results",
    "## 8. What went wrong in the original",
    "## 9. The ablation table",
]


def _needs(*modules: str) -> None:
    """Skip without the docs tools locally; in CI (the test extra installs them) a missing one fails."""
    for name in modules:
        if importlib.util.find_spec(name) is None:
            if os.environ.get("CI"):
                pytest.fail(f"{name} is missing in CI: the test extra must install it")
            pytest.skip(f"{name} not installed (pip install -e '.[docs]')")


def _build_module():
    spec = importlib.util.spec_from_file_location("docs_build", DOCS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebook_follows_the_outline_and_has_no_outputs():
    _needs("jupytext")
    nb = _build_module().to_notebook()
    headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown"]
    found = [s for s in SECTIONS if any(h.startswith(s) for h in headings)]
    assert found == SECTIONS
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) > 20 and all(not c.get("outputs") for c in code)
    asserting = [c for c in code if "assert " in c.source]
    assert len(asserting) >= 25  # the cells prove what the text states


@pytest.mark.mnist
@pytest.mark.slow
def test_notebook_executes_top_to_bottom_and_renders(mnist_path, tmp_path, monkeypatch):
    _needs("jupytext", "nbclient", "nbconvert", "ipykernel", "matplotlib")
    build = _build_module()
    monkeypatch.setenv("NNSCRATCH_DATA", str(mnist_path))  # the kernel inherits it
    nb = build.to_notebook()
    build.execute(nb, timeout=1200, cwd=tmp_path)  # raises CellExecutionError on any failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 9  # every figure was drawn
    html = build.to_html(nb)
    assert html.count("data:image/png;base64") >= len(images)  # self-contained: figures inlined
    assert "ablation" in html and "Traceback" not in html
