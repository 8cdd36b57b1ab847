"""Shared by ``tune_finetune.py`` and ``bench_finetune.py``: the base network and the generated style.

The base network is what ``nnscratch train`` makes (a preset, seed 0, the official split: 51,000
training images, 9,000 held out with split seed 42). It is trained once and kept in
``benchmarks/results/finetune_base_<preset>.npz`` (git-ignored); delete the file to retrain.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the handwriting generator lives beside the tests

from handwriting import style_digits  # noqa: E402
from nnscratch import DeepNeuralNetwork  # noqa: E402
from nnscratch.cli.train import split_data  # noqa: E402
from nnscratch.data import load_mnist  # noqa: E402
from nnscratch.training.presets import build_network  # noqa: E402

DEFAULT_DATA = HERE.parents[1] / "shared" / "data" / "mnist"
RESULTS = HERE / "results"

__all__ = ["DEFAULT_DATA", "RESULTS", "base_network", "mnist_split", "style_digits"]


def mnist_split(data_dir: Path | str | None = None):
    """(x_train, y_train, x_val, y_val, x_test, y_test) as ``nnscratch train`` splits them (uint8)."""
    ds = load_mnist(data_dir or os.environ.get("NNSCRATCH_DATA") or DEFAULT_DATA)
    return split_data(ds, "official", 0.15, 42)


def base_network(preset: str, data) -> tuple[DeepNeuralNetwork, Path]:
    """The preset trained with seed 0 on the training part of ``data`` (cached on disk)."""
    path = RESULTS / f"finetune_base_{preset}.npz"
    if path.exists():
        return DeepNeuralNetwork.load(path), path
    x_tr, y_tr = data[0], data[1]
    net = build_network(preset, seed=0, verbose=False)
    start = time.perf_counter()
    net.train(x_tr, y_tr)
    print(f"trained the {preset} base network in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    net.metadata["test_accuracy"] = net.compute_accuracy(data[4], data[5])
    net.save(path)
    return net, path
