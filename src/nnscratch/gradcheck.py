"""Numerical gradient checks: is ``backward_pass`` the derivative of the loss?

Backpropagation is easy to get subtly wrong (a transposed matrix, the wrong activation, a missing
factor) and a wrong gradient still trains, badly. The check is old and simple: nudge one parameter θ_i
by ±ε, see how the loss changes, and compare with the gradient ``backward_pass`` computed::

    numeric_i = (L(θ + ε·e_i) - L(θ - ε·e_i)) / (2ε)        central difference, error O(ε²)

In float64 with ε = 1e-5 (the default) the truncation error is about ε²·|L'''| ≈ 1e-10 and the
round-off about 1e-16·|L|/ε ≈ 1e-11·|L|, so a correct gradient agrees to ~1e-9 and a wrong one is off
by 1e-2 or more. (Measured on 784-32-16-10: ε = 1e-5 gives 1e-11–4e-9; ε = 1e-6, where round-off
dominates, up to 4e-8 on the sigmoid network's first layer.)

**Relative error** of one parameter array (``relative_error``)::

    max_i |analytic_i - numeric_i|  /  max(max_i |analytic_i|, max_i |numeric_i|, floor)

the largest disagreement measured against the *array's* scale, not element by element. Per-element
ratios |a - n| / max(|a|, |n|) blow up on entries that are nearly zero (a weight into a saturated unit
has a gradient of 1e-12 and a numeric estimate of round-off noise), which would flag correct code.
``floor`` (1e-8) is the scale below which central differences are only noise: an array whose gradient
is smaller than that everywhere is compared absolutely. The error is 0 for identical arrays and about 1
(or more) when the analytic gradient is unrelated to the loss.

This module belongs to the maths layer: it uses only NumPy, :mod:`nnscratch.inputs` and the readable
:class:`~nnscratch.network.Network`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from nnscratch.inputs import targets_like
from nnscratch.network import Network

DEFAULT_EPS = 1e-5
DEFAULT_THRESHOLD = 1e-6
SCALE_FLOOR = 1e-8


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float = SCALE_FLOOR) -> float:
    """``max|analytic - numeric| / max(max|analytic|, max|numeric|, floor)`` (see the module docstring)."""
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"gradient shapes differ: {analytic.shape} and {numeric.shape}")
    if analytic.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(analytic))), float(np.max(np.abs(numeric))), floor)
    return float(np.max(np.abs(analytic - numeric))) / scale


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = DEFAULT_EPS) -> np.ndarray:
    """∂f/∂x by central differences, one element of ``x`` at a time.

    ``f`` takes no argument and reads ``x`` (an array it closes over), which is nudged *in place* by
    ±``eps`` and put back exactly afterwards. Use float64 arrays: in float32 the round-off is 1e9 times
    larger than in float64 and the estimate is useless.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        f_plus = f()
        x[i] = old - eps
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


@dataclass(frozen=True)
class GradcheckResult(Mapping):
    """The maximum relative error of each parameter (``result["W1"]``), in parameter order.

    ``passed`` is True when every error is at most ``threshold``; ``failed`` names the others.
    """

    errors: dict[str, float]
    threshold: float = DEFAULT_THRESHOLD
    eps: float = DEFAULT_EPS
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.errors[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    @property
    def failed(self) -> list[str]:
        """Names of the parameters whose error is above ``threshold`` (or not a number)."""
        return [k for k, v in self.errors.items() if not v <= self.threshold]

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def worst(self) -> tuple[str, float]:
        """(name, error) of the parameter that agrees least."""
        name = max(self.errors, key=lambda k: np.nan_to_num(self.errors[k], nan=np.inf))
        return name, self.errors[name]

    def table(self) -> str:
        """One line per parameter: name, shape, maximum relative error, ok/FAIL."""
        lines = [f"{'parameter':<10} {'shape':<12} {'max relative error':>18}"]
        for name, err in self.errors.items():
            shape = "x".join(map(str, self.shapes.get(name, ())))
            verdict = "ok" if err <= self.threshold else "FAIL"
            lines.append(f"{name:<10} {shape:<12} {err:>18.2e}  {verdict}")
        return "\n".join(lines)


def _float64_copy(net: Network) -> Network:
    """A float64 copy of ``net`` (same class, same weights): central differences need float64."""
    clone = copy.deepcopy(net)
    clone.dtype = np.dtype(np.float64)
    clone.Wb = [w.astype(np.float64) for w in clone.Wb]
    clone._bind_params()
    return clone


def _loss_of_forward_pass(net: Network, x: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    """L(θ) as ``forward_pass`` computes it: the function whose derivative ``backward_pass`` claims."""
    last = f"z{net.n_layers}"

    def loss() -> float:
        net.forward_pass(x)
        z = net.cache[last]
        return net.loss.value(z, targets_like(y, z))

    return loss


def gradcheck(
    net: Network,
    x: np.ndarray,
    y: np.ndarray,
    eps: float = DEFAULT_EPS,
    threshold: float = DEFAULT_THRESHOLD,
) -> GradcheckResult:
    """Compare ``net.backward_pass`` with central differences of the loss, for every parameter.

    ``x`` is one sample (n_in,) or a batch (n, n_in); ``y`` one-hot target(s) or integer label(s).
    The check runs in float64: a float64 network is checked in place (its parameters are nudged and put
    back exactly), any other is checked on a float64 copy. Cost: two forward passes per parameter, so
    keep the network small (a few thousand to tens of thousands of parameters).
    """
    if net.dtype != np.float64:
        net = _float64_copy(net)
    x = np.asarray(x, dtype=np.float64)
    grads = net.backward_pass(y, net.forward_pass(x))
    analytic = {k: np.array(v, dtype=np.float64) for k, v in grads.items()}  # copies: the cache moves on
    missing = set(net.params) - set(analytic)
    if missing:
        raise ValueError(f"backward_pass returned no gradient for {', '.join(sorted(missing))}")
    loss = _loss_of_forward_pass(net, x, y)
    errors, shapes = {}, {}
    for name, param in net.params.items():
        if np.shape(analytic[name]) != param.shape:
            raise ValueError(
                f"backward_pass gave {name} shape {np.shape(analytic[name])}, the parameter is {param.shape}"
            )
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, param, eps))
        shapes[name] = param.shape
    return GradcheckResult(errors, float(threshold), float(eps), shapes)
