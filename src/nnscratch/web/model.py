"""The model the web app answers with, swappable atomically, and what one prediction returns.

:class:`ModelHolder` keeps the current :class:`LoadedModel` behind one reference. A request reads that
reference once (``holder.current``) and uses that model to the end, so replacing it (a fine-tuned
model, an undo) never mixes two models within one answer and never blocks predictions: swaps take a
lock only against each other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch.errors import ModelFileError
from nnscratch.losses import softmax
from nnscratch.models import DEFAULT_MODEL
from nnscratch.training import DeepNeuralNetwork

SIDE = 28


@dataclass(frozen=True)
class LoadedModel:
    """A network with where it came from and its description for ``GET /api/model``."""

    net: DeepNeuralNetwork
    path: Path
    info: dict[str, Any] = field(default_factory=dict)


def describe(net: DeepNeuralNetwork, path: Path, *, default: bool) -> dict[str, Any]:
    """JSON-able facts about a model: file, architecture, test accuracy, training."""
    meta = net.metadata
    accuracy = meta.get("test_accuracy")
    return {
        "name": path.name,
        "path": str(path),
        "default": default,
        "sizes": list(net.sizes),
        "activation": net.activation.name,
        "loss": net.loss.name,
        "test_accuracy": float(accuracy) if isinstance(accuracy, (int, float)) else None,
        "dataset": meta.get("dataset"),
        "epochs": len(net.history),
        "preset": meta.get("preset"),
        "finetuned_from": _finetuned_from(meta),
    }


def _finetuned_from(meta: dict) -> str | None:
    """The file a fine-tuned model came from (recorded by nnscratch.training.finetune), else None."""
    source = (meta.get("finetune") or {}).get("from") if isinstance(meta.get("finetune"), dict) else None
    return source.get("file") if isinstance(source, dict) else None


def load_model(path: str | Path | None = None) -> LoadedModel:
    """Read ``path`` (default: the model shipped with the package) and check it reads 28×28 images."""
    default = path is None
    path = Path(DEFAULT_MODEL if path is None else path)
    net = DeepNeuralNetwork.load(path)
    if net.sizes[0] != SIDE * SIDE:
        raise ModelFileError(
            f"{path} expects {net.sizes[0]} inputs, but the page sends {SIDE}x{SIDE} = {SIDE * SIDE} "
            "pixels, so this model cannot read drawings"
        )
    return LoadedModel(net, path, describe(net, path, default=default))


class ModelHolder:
    """The current model, replaced atomically by :meth:`swap`; :meth:`revert` restores the first one."""

    def __init__(self, model: LoadedModel) -> None:
        self._lock = threading.Lock()
        self.original = model
        self._current = model

    @property
    def current(self) -> LoadedModel:
        return self._current

    def swap(self, model: LoadedModel) -> LoadedModel:
        """Make ``model`` current; return the one it replaced."""
        with self._lock:
            previous, self._current = self._current, model
        return previous

    def revert(self) -> LoadedModel:
        """Go back to the model the server started with; return it."""
        self.swap(self.original)
        return self.original


def _rounded(values: np.ndarray, decimals: int) -> list:
    return np.round(values.astype(np.float64), decimals).tolist()


def analyse(model: LoadedModel, image: np.ndarray) -> dict[str, Any]:
    """Everything the page shows for one preprocessed (28, 28) image in [0, 1].

    ``probabilities`` (10), ``digit``, ``input`` (28×28), ``saliency``: ∂z_L[digit]/∂x (28×28) divided
    by its largest magnitude ``saliency_scale`` (so in [-1, 1]; > 0 means ink there pushes the answer
    up), and ``hidden``: each hidden layer's activations.
    """
    net = model.net
    x = image.reshape(-1).astype(net.dtype)
    zs, activations = net.layer_values(x)
    proba = softmax(zs[-1].astype(np.float64))
    digit = int(np.argmax(proba))
    gradient = net.input_gradient(x, digit).astype(np.float64)
    scale = float(np.abs(gradient).max())
    saliency = gradient / scale if scale > 0 else gradient
    return {
        "digit": digit,
        "probabilities": _rounded(proba, 6),
        "input": _rounded(image.reshape(SIDE, SIDE), 3),
        "saliency": _rounded(saliency.reshape(SIDE, SIDE), 3),
        "saliency_scale": scale,
        "hidden": [_rounded(a, 3) for a in activations[1:]],
        "model": model.info.get("name", model.path.name),
    }
