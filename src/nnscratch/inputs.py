"""One home for the rules that turn what a user passes into what the maths expects.

Pixels: uint8 values 0..255 are divided by ``PIXEL_SCALE`` (255); floats are taken as already in [0, 1].
Labels: integer class labels (n,) or one-hot rows (n, k); :func:`labels_from` gives integers,
:func:`targets_like` one-hot rows shaped like the logits.
"""

from __future__ import annotations

import numpy as np

PIXEL_SCALE = 255.0


def as_float_input(x: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Images as floats in [0, 1], flattened to rows of pixels.

    uint8 pixels (0..255) are divided by 255; floats are taken as already scaled. (28, 28) images are
    flattened to 784 values; one image stays 1-D, a batch is 2-D (n, 784).
    """
    x = np.asarray(x)
    dtype = np.dtype(dtype)
    if x.dtype == np.uint8:
        x = np.divide(x, dtype.type(PIXEL_SCALE), dtype=dtype)
    elif not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"expected uint8 pixels or floats in [0, 1], got dtype {x.dtype}")
    if x.ndim == 2 and x.shape == (28, 28):
        return x.reshape(784).astype(dtype, copy=False)
    if x.ndim == 3:
        x = x.reshape(x.shape[0], -1)
    return x.astype(dtype, copy=False)


def labels_from(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Integer class labels (n,) from integer labels (n,) or one-hot rows (n, n_classes)."""
    y = np.asarray(y)
    if y.ndim == 2:
        if y.shape[1] != n_classes:
            raise ValueError(f"one-hot labels must have {n_classes} columns, got {y.shape[1]}")
        return y.argmax(axis=1)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D integers or 2-D one-hot rows, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) and not np.all(y == np.round(y)):
        raise ValueError(f"labels must be whole numbers, got dtype {y.dtype} with fractions")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must be in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    return y.astype(np.intp)


def targets_like(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """One-hot targets with the shape of the logits ``z``: (k,) for one sample, (n, k) for a batch.

    ``y`` may be one-hot already, or integer label(s)."""
    y = np.asarray(y)
    k = z.shape[-1]
    eye = np.eye(k, dtype=z.dtype)
    if z.ndim == 1:
        if y.ndim == 0:
            return eye[labels_from(y[None], k)[0]]
        if y.shape == (k,):
            return y.astype(z.dtype, copy=False)
        raise ValueError(f"one sample needs a label or a one-hot vector of length {k}, got shape {y.shape}")
    if y.shape == z.shape:
        return y.astype(z.dtype, copy=False)
    if y.shape != z.shape[:1]:
        raise ValueError(
            f"{z.shape[0]} samples need {z.shape[0]} labels or a ({z.shape[0]}, {k}) one-hot array, "
            f"got shape {y.shape}"
        )
    return eye[labels_from(y, k)]
