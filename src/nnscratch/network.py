"""The network itself: a fully connected net, written to be read next to the maths.

Notation (Nielsen's, and the tutorial's). Layer l = 1..L has weights ``W_l`` of shape (n_out, n_in)
and bias ``b_l`` of shape (n_out,). For ONE sample, a column of activations ``a`` flows forward::

    a_0 = x                                   x: (784,)
    z_l = W_l · a_{l-1} + b_l                 z_l: (n_l,)   pre-activation
    a_l = f(z_l)          for l < L           a_l: (n_l,)   activation (sigmoid by default)
    p   = softmax(z_L)                        p: (10,)      class probabilities

and the error ``delta_l = ∂L/∂z_l`` flows backward::

    delta_L = ∂L/∂z_L                         = p - y for cross-entropy
    dW_l    = delta_l ⊗ a_{l-1}               outer product, (n_l, n_{l-1}): one number per weight
    db_l    = delta_l
    delta_{l-1} = (W_lᵀ · delta_l) ⊙ f'(z_{l-1})

A BATCH is a matrix with one sample per row, so the same equations read ``Z = A @ W.T + b``,
``dW = Delta.T @ A_prev``, ``db = Delta.sum(axis=0)`` and ``Delta_prev = (Delta @ W) ⊙ f'(Z_prev)``.

This module is the readable reference. :mod:`nnscratch.training.engines` runs exactly the same maths with
preallocated buffers for training speed, and the tests check that both agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from nnscratch.activations import Activation, get_activation
from nnscratch.inputs import as_float_input, is_one_image, labels_from, targets_like
from nnscratch.losses import Loss, get_loss, softmax

INITS = ("tutorial", "xavier", "he")


class Network:
    """A fully connected network ``sizes[0] → … → sizes[-1]`` with a softmax output.

    Parameters
    ----------
    sizes : layer widths, input first (the tutorial's ``[784, 128, 64, 10]``).
    l_rate : learning rate used by :meth:`update_network_parameters`.
    activation : hidden-layer activation: ``sigmoid``, ``tanh``, ``relu`` or ``leaky_relu``.
    loss : ``cross_entropy`` or ``sum_of_squares``.
    bias : give each layer a bias (``False`` reproduces the tutorial's bias-free network).
    init : ``tutorial`` (N(0, 1)·sqrt(1/n_out)), ``xavier`` (Glorot uniform) or ``he`` (N(0, 1)·sqrt(2/n_in)).
    seed : seed or ``np.random.Generator``; the only source of randomness (init, shuffling, dropout).
    dtype : float32 (fast, the default) or float64 (used by the gradient checks).
    """

    def __init__(
        self,
        sizes: Sequence[int] = (784, 128, 64, 10),
        l_rate: float = 0.1,
        activation: str | Activation = "sigmoid",
        loss: str | Loss = "cross_entropy",
        bias: bool = True,
        init: str = "tutorial",
        seed: int | np.random.Generator | None = None,
        dtype: type | np.dtype = np.float32,
    ) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes needs at least an input and an output width, all >= 1; got {sizes}")
        if sizes[-1] < 2:
            raise ValueError("the softmax output needs at least 2 classes")
        if not (isinstance(l_rate, (int, float)) and math.isfinite(l_rate) and l_rate > 0):
            raise ValueError(f"l_rate must be a positive number, got {l_rate!r}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.sizes = sizes
        self.l_rate = float(l_rate)
        self.activation = get_activation(activation)
        self.loss = get_loss(loss)
        self.bias = bool(bias)
        self.init = init
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.seed = None if isinstance(seed, np.random.Generator) else seed
        self.cache: dict[str, np.ndarray] = {}
        self._allocate()

    # ------------------------------------------------------------------ parameters

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def _allocate(self) -> None:
        """Create the weights. Layer l keeps W and b side by side in one matrix ``Wb_l`` of shape
        (n_out, n_in + 1) so the fast path can update both with one BLAS call; ``W_l`` and ``b_l``
        are views of it. Without bias, ``Wb_l`` is just ``W_l``."""
        self.Wb: list[np.ndarray] = []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            Wb = np.zeros((n_out, n_in + self.bias), dtype=self.dtype)
            Wb[:, :n_in] = self._initial_weights(n_in, n_out)
            self.Wb.append(Wb)
        self._bind_params()

    def _bind_params(self) -> None:
        """``self.params``: the views ``W{l}`` and ``b{l}`` into each ``Wb_l``."""
        self.params = ParamDict()
        for l, (n_in, Wb) in enumerate(zip(self.sizes[:-1], self.Wb, strict=True), start=1):
            dict.__setitem__(self.params, f"W{l}", Wb[:, :n_in])
            if self.bias:
                dict.__setitem__(self.params, f"b{l}", Wb[:, n_in])

    def __getstate__(self) -> dict:
        """For ``copy.deepcopy`` and in-process pickling (joblib, scikit-learn): the views in
        ``params`` and the forward cache are rebuilt, not stored. Model files
        never use pickle: see :meth:`~nnscratch.training.trainer.DeepNeuralNetwork.save`."""
        return {k: v for k, v in self.__dict__.items() if k not in ("params", "cache")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.cache = {}
        self._bind_params()

    def _initial_weights(self, n_in: int, n_out: int) -> np.ndarray:
        if self.init == "tutorial":  # the tutorial's randn(n_out, n_in) * sqrt(1 / n_out)
            return self.rng.standard_normal((n_out, n_in)) * np.sqrt(1.0 / n_out)
        if self.init == "xavier":
            limit = np.sqrt(6.0 / (n_in + n_out))
            return self.rng.uniform(-limit, limit, (n_out, n_in))
        return self.rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)  # he

    def layer(self, l: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(W_l, b_l) of layer l = 1..L (b_l is None without bias)."""
        return self.params[f"W{l}"], self.params.get(f"b{l}")

    def get_params(self) -> dict[str, np.ndarray]:
        """Copies of all parameters, by name."""
        return {k: v.copy() for k, v in self.params.items()}

    def set_params(self, values: Mapping[str, np.ndarray]) -> None:
        """Copy ``values`` into the parameters (names and shapes must match exactly)."""
        missing = set(self.params) - set(values)
        extra = set(values) - set(self.params)
        if missing or extra:
            raise ValueError(f"parameter names differ: missing {sorted(missing)}, unexpected {sorted(extra)}")
        for key, value in values.items():
            self.params[key] = value

    # ------------------------------------------------------------------ the maths, readable

    def forward_pass(self, x: np.ndarray) -> np.ndarray:
        """Probabilities p for one sample x (n_in,) → (n_classes,), or a batch (n, n_in) → (n, n_classes).

        uint8 pixels are scaled to [0, 1]. The z and a of every layer are kept in ``self.cache`` for
        :meth:`backward_pass`.
        """
        a = as_float_input(x, self.dtype, self.sizes[0])
        self.cache = {"a0": a}
        for l in range(1, self.n_layers + 1):
            W, b = self.layer(l)
            z = W @ a if a.ndim == 1 else a @ W.T  # one sample: W·a;  a batch of rows: A @ Wᵀ
            if b is not None:
                z = z + b
            self.cache[f"z{l}"] = z
            if l < self.n_layers:
                a = self.activation.forward(z)
                self.cache[f"a{l}"] = a
        p = softmax(self.cache[f"z{self.n_layers}"])
        self.cache["p"] = p
        return p

    def backward_pass(self, y: np.ndarray, output: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the loss with respect to every parameter, by name (``W1``, ``b1``, ...).

        ``y`` is the target for the sample(s) of the last :meth:`forward_pass`: a one-hot vector (or
        rows), or integer label(s). ``output`` is what :meth:`forward_pass` returned. Each gradient has
        its parameter's shape; for a batch they are averages over the batch.
        """
        L = self.n_layers
        z_L = self.cache[f"z{L}"]
        y = targets_like(y, z_L)
        delta = self.loss.delta(z_L, y, p=output)  # ∂L/∂z_L
        changes: dict[str, np.ndarray] = {}
        for l in range(L, 0, -1):
            a_prev = self.cache[f"a{l - 1}"]
            W, b = self.layer(l)
            if delta.ndim == 1:
                changes[f"W{l}"] = np.outer(delta, a_prev)  # (n_l, n_{l-1}): one number per weight
            else:
                changes[f"W{l}"] = delta.T @ a_prev  # summed over the batch rows
            if b is not None:
                changes[f"b{l}"] = delta if delta.ndim == 1 else delta.sum(axis=0)
            if l > 1:
                da_prev = W.T @ delta if delta.ndim == 1 else delta @ W  # ∂L/∂a_{l-1}
                delta = self.activation.backward(self.cache[f"z{l - 1}"], a_prev, da_prev)
        return {key: changes[key] for key in self.params}  # W1, b1, W2, ... as in params

    def update_network_parameters(self, changes: Mapping[str, np.ndarray]) -> None:
        """Plain gradient descent, as in the tutorial: θ ← θ - l_rate · ∂L/∂θ, in place."""
        for key, value in changes.items():
            self.params[key] -= self.l_rate * value

    def layer_values(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """For ONE sample x (n_in,): the pre-activations ``[z_1, ..., z_L]`` and the activations
        ``[a_0 = x, a_1, ..., a_{L-1}]``.

        The same forward equations as :meth:`forward_pass`, but kept in local lists instead of
        ``self.cache``, so several threads (a web server) can call it on one network at once.
        """
        a = as_float_input(x, self.dtype)
        if a.shape != (self.sizes[0],):
            raise ValueError(f"one sample must have {self.sizes[0]} features, got shape {np.shape(x)}")
        zs: list[np.ndarray] = []
        activations = [a]
        for l in range(1, self.n_layers + 1):
            W, b = self.layer(l)
            z = W @ a if b is None else W @ a + b
            zs.append(z)
            if l < self.n_layers:
                a = self.activation.forward(z)
                activations.append(a)
        return zs, activations

    def input_gradient(self, x: np.ndarray, k: int) -> np.ndarray:
        """∂z_L[k]/∂x: how much each input pixel pushes the logit of class ``k`` up (or down, < 0).

        The backward pass of :meth:`backward_pass` with the loss replaced by z_L[k], so it starts from
        ``delta_L = e_k`` (the one-hot vector of class k) and goes one step further than the weights::

            delta_L     = e_k                                  (n_L,)
            delta_{l-1} = (W_lᵀ · delta_l) ⊙ f'(z_{l-1})        (n_{l-1},)
            ∂z_L[k]/∂x  = W_1ᵀ · delta_1                        (n_0,)

        For one sample x (n_in,); returns an array of shape (n_in,). Thread-safe like :meth:`layer_values`.
        """
        k = int(k)
        if not 0 <= k < self.sizes[-1]:
            raise ValueError(f"class k must be in 0..{self.sizes[-1] - 1}, got {k}")
        zs, activations = self.layer_values(x)
        delta = np.zeros(self.sizes[-1], dtype=self.dtype)
        delta[k] = 1.0
        for l in range(self.n_layers, 1, -1):
            W, _ = self.layer(l)
            delta = self.activation.backward(zs[l - 2], activations[l - 1], W.T @ delta)
        W1, _ = self.layer(1)
        return W1.T @ delta

    def loss_value(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean loss over a batch (or one sample) of inputs x and targets y (one-hot or labels)."""
        z = self.logits(x)
        return self.loss.value(z, targets_like(y, z))

    # ------------------------------------------------------------------ inference

    def logits(self, x: np.ndarray, chunk: int = 2048) -> np.ndarray:
        """z_L for a batch (n, n_in) or one sample, computed in chunks so memory stays small."""
        x = np.asarray(x)
        if is_one_image(x, self.sizes[0]):
            return self.logits(x.reshape(1, -1), chunk)[0]
        n_in = self.sizes[0]
        if x.reshape(x.shape[0], -1).shape[1] != n_in:
            raise ValueError(f"inputs must have {n_in} features, got shape {x.shape}")
        out = np.empty((x.shape[0], self.sizes[-1]), dtype=self.dtype)
        for start in range(0, x.shape[0], chunk):
            a = as_float_input(x[start : start + chunk], self.dtype)
            for l in range(1, self.n_layers + 1):
                W, b = self.layer(l)
                z = a @ W.T
                if b is not None:
                    z += b
                a = self.activation.forward(z, out=z) if l < self.n_layers else z
            out[start : start + chunk] = a
        return out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, (n, n_classes) for a batch or (n_classes,) for one sample."""
        return softmax(self.logits(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted class index for each row (or one int-like array for one sample)."""
        return self.logits(x).argmax(axis=-1)

    def compute_accuracy(self, x_val: np.ndarray, y_val: np.ndarray) -> float:
        """Fraction of samples whose predicted class is the true one (``y_val`` one-hot or integer)."""
        labels = labels_from(y_val, self.sizes[-1])
        if len(labels) == 0:
            raise ValueError("compute_accuracy needs at least one sample")
        return float(np.mean(self.predict(x_val) == labels))

    def config(self) -> dict:
        """The constructor arguments as JSON-able values."""
        return {
            "sizes": list(self.sizes),
            "l_rate": self.l_rate,
            "activation": self.activation.name,
            "loss": self.loss.name,
            "bias": self.bias,
            "init": self.init,
            "seed": self.seed,
            "dtype": self.dtype.name,
        }

    def __repr__(self) -> str:
        sizes = "-".join(map(str, self.sizes))
        return f"{type(self).__name__}({sizes}, {self.activation.name}, {self.loss.name})"


class ParamDict(dict):
    """The network's parameters by name. Assigning ``params["W1"] = new`` copies *into* the existing
    array (after a shape check), so the arrays the network computes with always stay the same objects."""

    def __setitem__(self, key: str, value) -> None:
        if key not in self:
            raise KeyError(f"unknown parameter {key!r}; the network has {', '.join(self)}")
        target = self[key]
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(f"parameter {key} has shape {target.shape}, got {value.shape}")
        target[...] = value
