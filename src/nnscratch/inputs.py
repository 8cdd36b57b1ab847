"""One home for the rules that turn what a user passes into what the maths expects.

Pixels, one rule everywhere (training, prediction, augmentation, data preparation):

* integer pixels (uint8, or any integer type holding 0..255) are divided by ``PIXEL_SCALE`` (255);
* floating-point values are already scaled (pixels in [0, 1], or any standardised features): they must
  be finite, and pass unchanged (only cast to the working dtype).

:func:`check_pixels` enforces the rule where data comes in (``train``, ``nnscratch.data.scale``), once per
data set; :func:`scale_pixels` and :func:`as_float_input` apply it in the hot paths, where a check per
batch would cost more than the maths. An image of any shape is flattened to one row of features: one image
(``h, w``) of a network with ``h·w`` inputs becomes (h·w,), a batch (n, h, w) becomes (n, h·w).

Labels: integer class labels (n,) or one-hot rows (n, k); :func:`labels_from` gives integers,
:func:`one_hot` and :func:`targets_like` one-hot rows.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import DTypeLike

PIXEL_SCALE = 255.0


def check_pixels(x: np.ndarray, what: str = "images", unit_range: bool = False) -> np.ndarray:
    """``x`` as an array after checking the pixel rule: integers in 0..255, or finite floats (with
    ``unit_range``, floats in [0, 1] as pixels must be; without it, any already-scaled features, as a
    network trained on standardised data takes them).

    Raises TypeError for any other dtype and ValueError (naming ``what``) for values out of range."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.integer):
        if x.size and (x.min() < 0 or x.max() > PIXEL_SCALE):
            raise ValueError(f"{what}: integer pixel values must lie in 0..255, got {x.min()}..{x.max()}")
        return x
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{what} must be uint8 pixels or floats in [0, 1], got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    if unit_range and x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"{what}: floating-point pixels must already lie in [0, 1], got {x.min():g}..{x.max():g}"
        )
    return x


def scale_pixels(x: np.ndarray, dtype: DTypeLike = np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """Pixels as ``dtype`` floats in [0, 1]: integers divided by 255, floats unchanged (cast).

    With ``out`` (any shape holding ``x.size`` values in the same order, e.g. a view into a wider
    buffer), the result is written there and ``out`` is returned; nothing else is allocated."""
    x = np.asarray(x)
    dtype = np.dtype(dtype) if out is None else out.dtype
    if x.dtype.kind not in "uif":
        raise TypeError(f"expected uint8 pixels or floats in [0, 1], got dtype {x.dtype}")
    if out is not None:
        x = x.reshape(out.shape)
        if x.dtype.kind == "f":
            out[...] = x
        else:
            np.divide(x, _scale(dtype), out=out)
        return out
    if x.dtype.kind == "f":
        return x.astype(dtype, copy=False)
    return np.divide(x, _scale(dtype), dtype=dtype)


def _scale(dtype: np.dtype) -> np.ndarray:
    """255 as a 0-d array of ``dtype``, so a uint8 image is divided in ``dtype``, rounded once."""
    return np.asarray(PIXEL_SCALE, dtype=dtype)


def as_float_input(x: np.ndarray, dtype: DTypeLike = np.float32, n_features: int | None = None) -> np.ndarray:
    """Images as rows of pixels, floats in [0, 1] (:func:`scale_pixels`).

    A batch (n, ...) becomes (n, features). A single image stays 1-D: an array that is already 1-D, or,
    given ``n_features``, any array holding exactly ``n_features`` values (e.g. one (28, 28) image of a
    784-input network)."""
    x = np.asarray(x)
    if x.ndim >= 2 and is_one_image(x, n_features):
        x = x.reshape(-1)
    elif x.ndim >= 3:
        x = x.reshape(x.shape[0], -1)
    return scale_pixels(x, dtype)


def is_one_image(x: np.ndarray, n_features: int | None) -> bool:
    """Whether ``x`` is one image rather than a batch: 1-D, or (given ``n_features``) holding exactly
    ``n_features`` values that are not one row of a batch, such as a (28, 28) image of a 784-input net."""
    if x.ndim <= 1:
        return True
    return n_features is not None and x.size == n_features and math.prod(x.shape[1:]) != n_features


def labels_from(y: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Integer class labels (n,) from integer labels (n,) or one-hot rows (n, n_classes).

    Whole-number floats are accepted as labels; anything outside 0..n_classes-1 (or, without
    ``n_classes``, below 0) is a ValueError."""
    y = np.asarray(y)
    if y.ndim == 2:
        if n_classes is not None and y.shape[1] != n_classes:
            raise ValueError(f"one-hot labels must have {n_classes} columns, got {y.shape[1]}")
        return y.argmax(axis=1)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D integers or 2-D one-hot rows, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) and not np.all(y == np.round(y)):
        raise ValueError(f"labels must be whole numbers, got dtype {y.dtype} with fractions")
    if y.size and (y.min() < 0 or (n_classes is not None and y.max() >= n_classes)):
        top = "" if n_classes is None else n_classes - 1
        raise ValueError(f"labels must be in 0..{top}, got {y.min()}..{y.max()}")
    return y.astype(np.intp)


def one_hot(labels: np.ndarray, n_classes: int, dtype: DTypeLike = np.float32) -> np.ndarray:
    """One-hot rows ``labels.shape + (n_classes,)`` of integer labels already known to be in range
    (:func:`labels_from` checks them)."""
    return np.eye(n_classes, dtype=dtype)[labels]


def targets_like(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """One-hot targets with the shape of the logits ``z``: (k,) for one sample, (n, k) for a batch.

    ``y`` may be one-hot already, or integer label(s)."""
    y = np.asarray(y)
    k = z.shape[-1]
    if z.ndim == 1:
        if y.ndim == 0:
            return one_hot(labels_from(y[None], k)[0], k, z.dtype)
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
    return one_hot(labels_from(y, k), k, z.dtype)
