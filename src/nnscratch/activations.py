"""Activation functions and their derivatives.

Each activation is a small object with two methods, written so that a learner can check them by hand:

* ``forward(z, out=None) -> a``           a = f(z), element-wise
* ``backward(z, a, da, out=None) -> dz``  dz = da * f'(z), using whichever of ``z`` or ``a`` is cheaper

Shapes: ``z``, ``a``, ``da`` and ``dz`` all have the same shape, (n_out,) for one sample or
(batch, n_out) for a batch. ``out`` lets the fast training paths reuse preallocated buffers; without
it a new array is returned.
"""

from __future__ import annotations

import functools

import numpy as np

from nnscratch._optional import optional

# 0-d arrays rather than Python floats: NumPy converts a Python scalar on every call, which costs as
# much as the arithmetic on a 128-vector (the per-sample training path calls these 60,000 times an epoch).
_HALF = np.array(0.5, dtype=np.float32)
_ONE = np.array(1.0, dtype=np.float32)


class Activation:
    """Base class: ``name`` is what ``DeepNeuralNetwork(activation=...)`` accepts."""

    name = ""

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def backward(
        self, z: np.ndarray, a: np.ndarray, da: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        raise NotImplementedError

    def vector_forward(self, n: int):
        """The fastest callable ``f(z, out=...)`` computing :meth:`forward` for vectors of ``n`` values
        (the per-sample training path calls it twice per image and layer count)."""
        return self.forward

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@functools.cache
def _expit():
    """SciPy's ``expit`` (the logistic function as one ufunc) when SciPy is installed, else None."""
    special = optional("scipy.special")
    return None if special is None else special.expit


class Sigmoid(Activation):
    """σ(z) = 1 / (1 + e^{-z}),  σ'(z) = σ(z)(1 - σ(z)).

    Computed as ``0.5 * (1 + tanh(z / 2))``, which is the same function but never overflows:
    ``exp(-z)`` overflows float32 for z < -88, tanh saturates quietly at ±1. For one sample's short
    vector (the per-sample training path calls this 120,000 times an epoch), SciPy's ``expit`` (the
    ``fast`` extra) computes the same stable function in one call instead of four, to within one
    rounding; on batches NumPy's four vectorised passes are several times faster than ``expit``.
    """

    name = "sigmoid"
    expit_below = 256  # elements: measured here, expit wins below ~500, loses 8x at 16,384

    def vector_forward(self, n):
        expit = _expit() if n < self.expit_below else None  # SciPy is imported only when it helps
        return expit if expit is not None else self.forward

    def forward(self, z, out=None):
        if z.size < self.expit_below and (expit := _expit()) is not None:
            return expit(z, out=out)
        out = np.multiply(z, _HALF, out=out)
        np.tanh(out, out=out)
        np.multiply(out, _HALF, out=out)
        np.add(out, _HALF, out=out)
        return out

    def backward(self, z, a, da, out=None):
        out = np.subtract(_ONE, a, out=out)  # 1 - σ
        np.multiply(out, a, out=out)  # σ(1 - σ)
        np.multiply(out, da, out=out)
        return out


class Tanh(Activation):
    """tanh(z),  tanh'(z) = 1 - tanh(z)²."""

    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def backward(self, z, a, da, out=None):
        out = np.multiply(a, a, out=out)
        np.subtract(_ONE, out, out=out)
        np.multiply(out, da, out=out)
        return out


class ReLU(Activation):
    """max(0, z),  derivative 1 for z > 0 and 0 otherwise (0 at z = 0 by convention)."""

    name = "relu"

    def forward(self, z, out=None):
        return np.maximum(z, 0.0, out=out)

    def backward(self, z, a, da, out=None):
        return np.multiply(da, z > 0, out=out)


class LeakyReLU(Activation):
    """z for z > 0, ``alpha·z`` otherwise; derivative 1 or ``alpha``."""

    name = "leaky_relu"

    def __init__(self, alpha: float = 0.01) -> None:
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"leaky_relu alpha must be in [0, 1), got {alpha}")
        self.alpha = float(alpha)

    def forward(self, z, out=None):
        slope = np.where(z > 0, 1.0, self.alpha).astype(z.dtype, copy=False)
        return np.multiply(z, slope, out=out)

    def backward(self, z, a, da, out=None):
        slope = np.where(z > 0, 1.0, self.alpha).astype(da.dtype, copy=False)
        return np.multiply(da, slope, out=out)

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha})"


ACTIVATIONS: dict[str, type[Activation]] = {cls.name: cls for cls in (Sigmoid, Tanh, ReLU, LeakyReLU)}


def get_activation(name: str | Activation) -> Activation:
    """Return the activation called ``name`` (``sigmoid``, ``tanh``, ``relu``, ``leaky_relu``)."""
    if isinstance(name, Activation):
        return name
    key = str(name).lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[key]()
