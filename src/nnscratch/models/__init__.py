"""Model files shipped inside the package.

``default.npz`` is the tutorial network (784-128-64-10, sigmoid, SGD one image at a time, 10 epochs)
trained by the project's own command line, so that ``nnscratch serve`` and ``nnscratch predict`` work on
a fresh install without data or training. It was made with :data:`DEFAULT_MODEL_COMMAND` (run from the
repository root, with MNIST available locally; ``--force`` replaces the file in place, and the same
command writes bit-identical weights); its metadata records the test accuracy measured then,
and ``tests/test_default_model.py`` measures it again.
"""

from __future__ import annotations

from pathlib import Path

#: The model used when no MODEL is given to ``nnscratch serve`` / ``nnscratch predict``.
DEFAULT_MODEL = Path(__file__).with_name("default.npz")

#: The exact command that wrote :data:`DEFAULT_MODEL`.
DEFAULT_MODEL_COMMAND = (
    "python -m nnscratch train --seed 0 --data-dir ../shared/data/mnist "
    "--save src/nnscratch/models/default.npz --force"
)
