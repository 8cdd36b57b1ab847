"""Optimizers and learning-rate schedules, separate from the model.

An optimizer updates parameters in place from their gradients::

    opt = Adam(lr=1e-3)
    opt.step(params, grads)   # params and grads: dicts of arrays with the same keys and shapes

Its state (momentum buffers, Adam moments, step count) is created lazily on the first ``step`` and can
be saved and restored exactly with ``state_dict()`` / ``load_state_dict()``, so a resumed run continues
bit for bit. ``lr`` is a plain attribute; a schedule sets it before each step.

A schedule maps training progress ``t`` (in epochs, fractional: 2.5 = half way through the third
epoch) to a learning rate. ``schedule(t)`` works on floats and on NumPy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

Arrays = Mapping[str, np.ndarray]


class Optimizer:
    """Base class. Subclasses implement ``_update(key, p, g)`` for one parameter array."""

    name = ""

    def __init__(self, lr: float) -> None:
        if not lr > 0 or not math.isfinite(lr):
            raise ValueError(f"learning rate must be a positive number, got {lr}")
        self.lr = float(lr)
        self.t = 0  # number of steps taken
        self.state: dict[str, np.ndarray] = {}

    def step(self, params: Arrays, grads: Arrays) -> None:
        """Update every ``params[k]`` in place from ``grads[k]``."""
        self.t += 1
        for key, g in grads.items():
            self._update(key, params[key], g)

    def _buffer(self, name: str, like: np.ndarray) -> np.ndarray:
        if name not in self.state:
            self.state[name] = np.zeros(like.shape, dtype=like.dtype)
        return self.state[name]

    def _update(self, key: str, p: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    @property
    def is_plain_sgd(self) -> bool:
        """True when a step is exactly ``p -= lr * g`` (lets the per-sample fast path fuse it)."""
        return False

    def config(self) -> dict:
        """JSON-able constructor arguments."""
        return {"name": self.name, "lr": self.lr}

    def state_dict(self) -> dict:
        return {"t": self.t, "arrays": {k: v.copy() for k, v in self.state.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.t = int(state["t"])
        self.state = {k: np.array(v, copy=True) for k, v in state["arrays"].items()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum, PyTorch's convention:

    v ← μ·v + g;   p ← p - lr·v            (classical momentum)
    p ← p - lr·(g + μ·v)                   (Nesterov)
    """

    name = "sgd"

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov momentum needs momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    @property
    def is_plain_sgd(self) -> bool:
        return self.momentum == 0.0

    def _update(self, key, p, g):
        if self.momentum == 0.0:
            p -= self.lr * g
            return
        v = self._buffer(f"v.{key}", p)
        v *= self.momentum
        v += g
        if self.nesterov:
            p -= self.lr * (g + self.momentum * v)
        else:
            p -= self.lr * v

    def config(self):
        return {"name": self.name, "lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction:

    m ← β1·m + (1-β1)·g;   v ← β2·v + (1-β2)·g²
    m̂ = m / (1-β1^t);      v̂ = v / (1-β2^t);      p ← p - lr·m̂ / (√v̂ + ε)
    """

    name = "adam"

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        for label, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{label} must be in [0, 1), got {beta}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _update(self, key, p, g):
        m = self._buffer(f"m.{key}", p)
        v = self._buffer(f"v.{key}", p)
        m *= self.beta1
        m += (1.0 - self.beta1) * g
        v *= self.beta2
        v += (1.0 - self.beta2) * (g * g)
        m_hat_scale = 1.0 / (1.0 - self.beta1**self.t)
        v_hat_scale = 1.0 / (1.0 - self.beta2**self.t)
        denom = np.sqrt(v * v_hat_scale)
        denom += self.eps
        p -= (self.lr * m_hat_scale) * m / denom

    def config(self):
        return {"name": self.name, "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p - lr·wd·p before the Adam step.

    Decay applies to weight matrices (keys starting with ``W``), not to biases.
    """

    name = "adamw"

    def __init__(
        self,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(lr, beta1, beta2, eps)
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.weight_decay = float(weight_decay)

    def _update(self, key, p, g):
        if key.startswith("W") and self.weight_decay:
            p *= 1.0 - self.lr * self.weight_decay
        super()._update(key, p, g)

    def config(self):
        return {**super().config(), "weight_decay": self.weight_decay}


OPTIMIZERS: dict[str, type[Optimizer]] = {cls.name: cls for cls in (SGD, Adam, AdamW)}
#: Every name :func:`get_optimizer` accepts: the optimizers and SGD's two momentum variants.
OPTIMIZER_CHOICES: tuple[str, ...] = (*OPTIMIZERS, "momentum", "nesterov")


def get_optimizer(spec: str | Optimizer | Mapping, lr: float | None = None, **kwargs) -> Optimizer:
    """Build an optimizer from a name (``sgd``, ``momentum``, ``nesterov``, ``adam``, ``adamw``), a config
    dict (as ``Optimizer.config()`` returns) or an instance (returned as is)."""
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, Mapping):
        kwargs = {**{k: v for k, v in spec.items() if k != "name"}, **kwargs}
        spec = spec["name"]
    name = str(spec).lower()
    if name == "momentum":
        name, kwargs = "sgd", {"momentum": 0.9, **kwargs}
    elif name == "nesterov":
        name, kwargs = "sgd", {"momentum": 0.9, "nesterov": True, **kwargs}
    if name not in OPTIMIZERS:
        choices = ", ".join(sorted(OPTIMIZER_CHOICES))
        raise ValueError(f"unknown optimizer {spec!r}; choose one of {choices}")
    if lr is not None:
        kwargs["lr"] = lr
    return OPTIMIZERS[name](**kwargs)


# --------------------------------------------------------------------------- learning-rate schedules


class Schedule:
    """lr(t) for progress t in epochs. ``base_lr`` is the optimizer's initial learning rate."""

    name = ""

    def __call__(self, t, base_lr: float):
        raise NotImplementedError

    def config(self) -> dict:
        return {"name": self.name, **{k: v for k, v in vars(self).items()}}


class Constant(Schedule):
    name = "constant"

    def __call__(self, t, base_lr):
        return np.full(np.shape(t), float(base_lr))


class StepDecay(Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs."""

    name = "step"

    def __init__(self, step_size: float = 10, gamma: float = 0.1) -> None:
        if step_size <= 0 or gamma <= 0:
            raise ValueError("step schedule needs step_size > 0 and gamma > 0")
        self.step_size, self.gamma = float(step_size), float(gamma)

    def __call__(self, t, base_lr):
        return base_lr * self.gamma ** np.floor(np.asarray(t, dtype=np.float64) / self.step_size)


class Exponential(Schedule):
    """lr = base·gamma^t (smooth, per fractional epoch)."""

    name = "exponential"

    def __init__(self, gamma: float = 0.95) -> None:
        if not 0 < gamma <= 1:
            raise ValueError(f"exponential schedule needs 0 < gamma <= 1, got {gamma}")
        self.gamma = float(gamma)

    def __call__(self, t, base_lr):
        return base_lr * self.gamma ** np.asarray(t, dtype=np.float64)


class Cosine(Schedule):
    """Linear warm-up from 0 over ``warmup`` epochs, then cosine decay to ``min_lr`` at ``total`` epochs."""

    name = "cosine"

    def __init__(self, total: float, warmup: float = 0.0, min_lr: float = 0.0) -> None:
        if total <= 0 or warmup < 0 or warmup >= total or min_lr < 0:
            raise ValueError("cosine schedule needs total > 0 and 0 <= warmup < total, min_lr >= 0")
        self.total, self.warmup, self.min_lr = float(total), float(warmup), float(min_lr)

    def __call__(self, t, base_lr):
        t = np.asarray(t, dtype=np.float64)
        warm = base_lr * (t + 1e-12) / self.warmup if self.warmup else np.full_like(t, base_lr)
        progress = np.clip((t - self.warmup) / (self.total - self.warmup), 0.0, 1.0)
        cos = self.min_lr + 0.5 * (base_lr - self.min_lr) * (1.0 + np.cos(np.pi * progress))
        return np.where(t < self.warmup, warm, cos)


SCHEDULES: dict[str, type[Schedule]] = {c.name: c for c in (Constant, StepDecay, Exponential, Cosine)}


def get_schedule(spec: str | Schedule | Mapping | None, epochs: int = 10, **kwargs) -> Schedule:
    """Build a schedule from a config dict, an instance, or a bare name completed for ``epochs``:
    ``constant``; ``step`` (×0.1 every third of the run); ``exponential`` (×0.9 per epoch);
    ``cosine`` (to 0 at the last epoch, after ``warmup`` epochs if given)."""
    if spec is None:
        return Constant()
    if isinstance(spec, Schedule):
        return spec
    if isinstance(spec, str):
        defaults: dict[str, dict[str, Any]] = {
            "step": {"step_size": max(1, epochs // 3), "gamma": 0.1},
            "exponential": {"gamma": 0.9},
            "cosine": {"total": max(epochs, 1)},
        }
        kwargs = {**defaults.get(spec, {}), **kwargs}
    if isinstance(spec, Mapping):
        kwargs = {**{k: v for k, v in spec.items() if k != "name"}, **kwargs}
        spec = spec["name"]
    if spec not in SCHEDULES:
        raise ValueError(f"unknown schedule {spec!r}; choose one of {', '.join(sorted(SCHEDULES))}")
    return SCHEDULES[spec](**kwargs)
