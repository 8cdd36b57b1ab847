"""MNIST for the benchmark: ``nnscratch.data.load_mnist`` when it exists, else a tiny IDX/gzip reader.

Only the benchmark uses this module. Images come back as uint8 ``(n, 784)`` and labels as uint8 ``(n,)``;
converting to float is left to each configuration (PyTorch and scikit-learn get a float32 copy made
once, before timing; nnscratch gets the uint8 images and scales them per batch itself).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]

FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


class Mnist(NamedTuple):
    """The four MNIST arrays (images flattened to 784 uint8 pixels) and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    loader: str


def default_data_dir() -> Path:
    """``$NNSCRATCH_DATA`` when set, else ``../shared/data/mnist`` next to the repository."""
    env = os.environ.get("NNSCRATCH_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data" / "mnist"


def read_idx_gz(path: Path) -> np.ndarray:
    """Read one gzipped IDX file of unsigned bytes straight into a preallocated uint8 array."""
    with gzip.open(path, "rb") as fh:
        zero, dtype_code, ndim = struct.unpack(">HBB", fh.read(4))
        if zero != 0 or dtype_code != 0x08 or not 1 <= ndim <= 4:
            raise ValueError(f"{path} is not an IDX file of unsigned bytes (header {zero}, {dtype_code}).")
        shape = struct.unpack(f">{ndim}I", fh.read(4 * ndim))
        out = np.empty(shape, dtype=np.uint8)
        view = memoryview(out.reshape(-1))
        filled = 0
        while filled < out.size:
            n = fh.readinto(view[filled:])
            if not n:
                raise ValueError(f"{path} ends after {filled} of {out.size} data bytes.")
            filled += n
    return out


def load(data_dir: Path) -> Mnist:
    """Load MNIST from ``data_dir``, preferring the package's own loader."""
    try:
        from nnscratch.data import load_mnist
    except ImportError:
        load_mnist = None
    if load_mnist is not None:
        ds = load_mnist(data_dir=data_dir)
        arrays = [np.asarray(a) for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test)]
        loader = "nnscratch.data.load_mnist"
    else:
        arrays = [read_idx_gz(Path(data_dir) / FILES[k]) for k in ("x_train", "y_train", "x_test", "y_test")]
        loader = "benchmark IDX reader"
    x_train, y_train, x_test, y_test = arrays
    return Mnist(
        x_train.reshape(len(x_train), -1),
        y_train.reshape(-1),
        x_test.reshape(len(x_test), -1),
        y_test.reshape(-1),
        loader,
    )


def scaled_float32(images: np.ndarray) -> np.ndarray:
    """A float32 copy of uint8 images scaled to [0, 1], made without a float64 temporary."""
    out = images.astype(np.float32)
    out *= np.float32(1.0 / 255.0)
    return out
