"""Build the tutorial: ``python docs/build.py`` (needs the ``docs`` extra: ``pip install -e ".[docs]"``).

1. ``docs/tutorial.py`` (the source, a jupytext "percent" script) is converted to ``docs/tutorial.ipynb``
   with jupytext. The ``.ipynb`` is a generated file: it is git-ignored and never committed, so the
   repository holds no outputs and reviews see only the ``.py``.
2. The notebook is executed top to bottom by nbclient, in a Python kernel started in ``docs/`` with one
   BLAS thread (steady timings, and no thread oversubscription on small machines). Any error stops the
   build with the failing cell's traceback.
3. The executed notebook is written as one self-contained HTML page (figures inlined as PNG data) to
   ``docs/_build/tutorial.html`` (git-ignored), and the executed ``.ipynb`` beside it.

``--no-execute`` only regenerates ``docs/tutorial.ipynb`` (without outputs), to open it in Jupyter.
MNIST is read from ``$NNSCRATCH_DATA`` or ``../shared/data/mnist`` next to the repository; nothing is
downloaded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SOURCE = DOCS / "tutorial.py"
NOTEBOOK = DOCS / "tutorial.ipynb"
BUILD = DOCS / "_build"
ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def to_notebook(source: Path = SOURCE):
    """The jupytext script as a notebook object (no outputs)."""
    import jupytext

    return jupytext.read(source, fmt="py:percent")


def kernel_env() -> dict[str, str]:
    """The kernel's environment: this one, with one BLAS thread unless the caller chose otherwise."""
    env = dict(os.environ)
    for name in ONE_THREAD:
        env.setdefault(name, "1")
    return env


def execute(nb, timeout: int = 900, cwd: Path = DOCS):
    """Run every cell of ``nb`` in a fresh python3 kernel (in place); raises on the first error."""
    from nbclient import NotebookClient

    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute(env=kernel_env())
    return nb


def to_html(nb) -> str:
    """One self-contained HTML page of the executed notebook."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return body


def _write_text(path: Path, text: str) -> Path:
    """Write ``text`` atomically (temporary file beside ``path``, then rename)."""
    from nnscratch._files import atomic_write

    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def build(out_dir: Path = BUILD, run: bool = True, timeout: int = 900) -> dict[str, Path]:
    """Generate ``docs/tutorial.ipynb``; with ``run``, execute it and write ``out_dir/tutorial.html``."""
    import nbformat

    nb = to_notebook()
    written = {"notebook": _write_text(NOTEBOOK, nbformat.writes(nb))}
    if run:
        execute(nb, timeout=timeout)
        written["executed"] = _write_text(out_dir / "tutorial.ipynb", nbformat.writes(nb))
        written["html"] = _write_text(out_dir / "tutorial.html", to_html(nb))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the tutorial notebook and its HTML page.")
    parser.add_argument("--out", type=Path, default=BUILD, help="output folder [docs/_build]")
    parser.add_argument(
        "--no-execute", dest="run", action="store_false", help="only write docs/tutorial.ipynb"
    )
    parser.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell [900]")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        written = build(args.out, args.run, args.timeout)
    except ImportError as exc:
        print(f"build.py: error: {exc.name} is missing: pip install -e '.[docs]'", file=sys.stderr)
        return 1
    except Exception as exc:  # a failing cell: nbclient's CellExecutionError carries the traceback
        print(f"build.py: error: the notebook failed:\n{exc}", file=sys.stderr)
        return 1
    for what, path in written.items():
        print(f"{what}: {path}")
    print(f"built in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
