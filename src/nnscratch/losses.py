"""Output layer and losses. Every loss takes the *logits* ``z`` of the last layer, never probabilities.

The output layer is a softmax, p = softmax(z). Two losses are offered:

* ``cross_entropy``  L = -Σ_k y_k log p_k. Its gradient through the softmax fuses into the famous
  ``∂L/∂z = p - y``. Computed from logits with log-sum-exp, so it is finite even when p_k underflows.
* ``sum_of_squares`` L = ½ Σ_k (p_k - y_k)², the loss the tutorial named. Its gradient goes through
  the softmax Jacobian J = diag(p) - p pᵀ:  ∂L/∂z = J (p - y) = p ⊙ (g - p·g)  with g = p - y.

Shapes: ``z``, ``p`` and ``y`` are (n_classes,) for one sample or (batch, n_classes). ``y`` is one-hot
(or any probability vector). Losses are averaged over the batch, so gradients carry a 1/batch factor.
"""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Numerically stable softmax over the last axis: exp(z - max z) / Σ exp(z - max z)."""
    out = np.subtract(z, z.max(axis=-1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=-1, keepdims=True)
    return out


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log p = z - logsumexp(z), computed with the max shift so nothing overflows."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def log_loss(p_true: np.ndarray | list[float], floor: float) -> np.ndarray:
    """-log p for the probabilities ``p_true`` given to the true classes, each floored at ``floor`` so a
    probability that underflowed to 0 costs a large finite loss instead of infinity."""
    return -np.log(np.maximum(p_true, floor))


def _batch_size(z: np.ndarray) -> int:
    return 1 if z.ndim == 1 else z.shape[0]


class Loss:
    """Base class: ``value(z, y)`` is the mean loss, ``delta(z, y, p)`` is ∂L/∂z with the same shape as z."""

    name = ""

    def value(self, z: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError

    def delta(self, z: np.ndarray, y: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CrossEntropy(Loss):
    name = "cross_entropy"

    def value(self, z, y):
        return float(-(y * log_softmax(z)).sum() / _batch_size(z))

    def delta(self, z, y, p=None):
        p = softmax(z) if p is None else p
        return (p - y) / _batch_size(z)


class SumOfSquares(Loss):
    name = "sum_of_squares"

    def value(self, z, y):
        return float(0.5 * ((softmax(z) - y) ** 2).sum() / _batch_size(z))

    def delta(self, z, y, p=None):
        p = softmax(z) if p is None else p
        g = p - y  # ∂L/∂p
        return p * (g - (p * g).sum(axis=-1, keepdims=True)) / _batch_size(z)


LOSSES: dict[str, type[Loss]] = {cls.name: cls for cls in (CrossEntropy, SumOfSquares)}
_ALIASES = {
    "ce": "cross_entropy",
    "crossentropy": "cross_entropy",
    "mse": "sum_of_squares",
    "sse": "sum_of_squares",
}


def get_loss(name: str | Loss) -> Loss:
    """Return the loss called ``name`` (``cross_entropy`` or ``sum_of_squares``)."""
    if isinstance(name, Loss):
        return name
    key = str(name).lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(sorted(LOSSES))}")
    return LOSSES[key]()
