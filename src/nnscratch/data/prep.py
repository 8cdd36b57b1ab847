"""Preprocessing helpers the MNIST tutorial needed, in plain NumPy (re-exported by nnscratch.data).

``scale`` and ``to_categorical`` check what a user passes and then apply the one rule for pixels and
for one-hot rows that the network itself uses (:mod:`nnscratch.inputs`).
"""

from __future__ import annotations

import math

import numpy as np

from nnscratch.errors import DataError
from nnscratch.inputs import one_hot, scale_pixels


def to_categorical(
    y: np.ndarray, num_classes: int | None = None, dtype: str | np.dtype = "float32"
) -> np.ndarray:
    """One-hot encode integer class labels, with Keras' ``to_categorical`` semantics.

    The result has shape ``y.shape + (num_classes,)``, except that a trailing axis of length 1 is
    dropped first (so ``(n, 1)`` gives ``(n, num_classes)``). ``num_classes`` defaults to
    ``max(y) + 1``. Labels must be whole numbers in ``[0, num_classes)``.
    """
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise DataError("to_categorical needs whole-number class labels")
    elif y.dtype.kind not in "iub":
        raise DataError(f"to_categorical needs integer class labels, got dtype {y.dtype}")
    labels = y.astype(np.int64)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    labels = labels.reshape(-1)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"class labels must lie in [0, {num_classes}), found {labels.min()}..{labels.max()}")
    return one_hot(labels, num_classes, dtype).reshape(*shape, num_classes)


def scale(x: np.ndarray) -> np.ndarray:
    """Pixel values 0..255 (uint8 or other integers) -> float32 in [0, 1], exactly as the network
    scales uint8 images (:func:`nnscratch.inputs.scale_pixels`).

    Floating-point input is taken to be scaled already: it is returned as float32 after checking that
    it lies in [0, 1].
    """
    x = np.asarray(x)
    if x.dtype.kind == "f":
        if x.size and not (np.nanmin(x) >= 0 and np.nanmax(x) <= 1):
            raise DataError("scale: floating-point input must already lie in [0, 1]")
    elif x.dtype.kind not in "ui":
        raise DataError(f"scale: expected pixel values as integers 0..255, got dtype {x.dtype}")
    elif x.dtype != np.uint8:
        if x.size and (x.min() < 0 or x.max() > 255):
            raise DataError("scale: pixel values must lie in 0..255")
        x = x.astype(np.uint8)
    return scale_pixels(x, np.float32)


def flatten(x: np.ndarray) -> np.ndarray:
    """Images ``(n, 28, 28)`` -> ``(n, 784)`` (a view when possible); ``(n, d)`` is returned as is."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise DataError(f"flatten expects a batch of images of shape (n, ...), got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def _n_test(test_size: float | int, n: int) -> int:
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        n_test = int(test_size)
    elif isinstance(test_size, float) and 0.0 < test_size < 1.0:
        n_test = math.ceil(test_size * n)
    else:
        raise DataError(f"test_size must be a fraction in (0, 1) or a count, got {test_size!r}")
    if not 0 < n_test < n:
        raise DataError(f"test_size={test_size!r} leaves an empty train or test set for {n} samples")
    return n_test


def train_test_split(
    x: np.ndarray,
    y: np.ndarray,
    test_size: float | int = 0.15,
    random_state: int | np.random.Generator | None = 42,
    stratify: np.ndarray | bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split into ``(x_train, x_test, y_train, y_test)`` (scikit-learn's order).

    ``test_size`` is a fraction (the test set gets ``ceil(test_size * n)`` samples) or a count.
    ``random_state`` seeds a ``np.random.Generator`` (or is one); equal seeds give equal splits.
    ``stratify`` (class labels, one-hot rows, or True for ``y``) keeps each class's share in both
    parts: every class gets its proportional number of test samples, the leftovers of the rounding
    going to the classes with the largest remainders.
    """
    x, y = np.asarray(x), np.asarray(y)
    n = len(x)
    if len(y) != n:
        raise DataError(f"x and y differ in length: {n} vs {len(y)}")
    n_test = _n_test(test_size, n)
    rng = (
        random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    )
    if stratify is None or stratify is False:
        perm = rng.permutation(n)
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    else:
        groups = np.asarray(y if stratify is True else stratify)
        if groups.ndim == 2:
            groups = groups.argmax(axis=1)
        if groups.shape != (n,):
            raise DataError(f"stratify must hold one label per sample ({n}), got shape {groups.shape}")
        classes, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
        exact = counts * (n_test / n)
        take = np.floor(exact).astype(np.int64)
        short = n_test - int(take.sum())
        order = np.lexsort((np.arange(len(classes)), -(exact - take)))
        take[order[:short]] += 1
        test_parts, train_parts = [], []
        for k in range(len(classes)):
            members = rng.permutation(np.flatnonzero(inverse == k))
            test_parts.append(members[: take[k]])
            train_parts.append(members[take[k] :])
        test_idx = rng.permutation(np.concatenate(test_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))
    return x[train_idx], x[test_idx], y[train_idx], y[test_idx]
