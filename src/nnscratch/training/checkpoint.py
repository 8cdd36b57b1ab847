"""Saving and loading models and training checkpoints (``.npz`` arrays + JSON, no pickle).

* A **model** file holds the parameters (``W1``, ``b1``, ...) and metadata: the full configuration,
  the training history and whatever the trainer recorded in ``net.metadata`` (e.g. dataset checksums).
* A **checkpoint** is a model file plus everything needed to continue training bit for bit: the
  optimizer's state (``opt/...`` arrays and its step count), the random generator's state, the
  early-stopping record and the run's loop control (``training_state``: where the run started, and the
  epoch it trains up to). ``train(checkpoint_dir=D)`` keeps ``D/last.npz`` and ``D/best.npz``.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nnscratch._files import atomic_write
from nnscratch.errors import ModelFileError
from nnscratch.training.modelfile import load_arrays, save_arrays
from nnscratch.training.optimizers import Optimizer

OPT_PREFIX = "opt/"
BEST_PREFIX = "best/"


class Checkpointable(Protocol):
    """What this module needs of a network (:class:`~nnscratch.training.trainer.DeepNeuralNetwork` is one)."""

    @property
    def params(self) -> Mapping[str, np.ndarray]: ...
    @property
    def history(self) -> list[dict]: ...
    @property
    def metadata(self) -> dict: ...
    @property
    def best(self) -> dict: ...
    @property
    def optimizer(self) -> Optimizer: ...
    @property
    def rng(self) -> np.random.Generator: ...
    @property
    def training_state(self) -> Any: ...  # a dataclass: the run's loop control

    def training_config(self) -> dict: ...


def _model_metadata(net: Checkpointable, kind: str) -> dict:
    from nnscratch._version import __version__

    return {
        "kind": kind,
        "nnscratch_version": __version__,
        "config": net.training_config(),
        "history": net.history,
        "metadata": net.metadata,
    }


def save_model(net: Checkpointable, path: str | Path) -> Path:
    """Write ``net``'s parameters and metadata to ``path`` atomically."""
    return save_arrays(path, net.params, _model_metadata(net, "model"))


def write_checkpoint(net: Checkpointable, directory: str | Path, improved: bool) -> Path:
    """Write the full training state to ``directory/last.npz`` (and ``best.npz`` when ``improved``)."""
    directory = Path(directory)
    arrays = dict(net.params)
    arrays.update({OPT_PREFIX + k: v for k, v in net.optimizer.state.items()})
    best = net.best
    if best["params"] is not None:
        arrays.update({BEST_PREFIX + k: v for k, v in best["params"].items()})
    meta = _model_metadata(net, "checkpoint")
    meta["optimizer_step"] = net.optimizer.t
    meta["rng_state"] = net.rng.bit_generator.state
    meta["best"] = {"value": best["value"], "epoch": best["epoch"], "wait": best["wait"]}
    meta["training_state"] = dataclasses.asdict(net.training_state)
    last = save_arrays(directory / "last.npz", arrays, meta)
    if improved:
        with open(last, "rb") as src:
            atomic_write(directory / "best.npz", lambda out: shutil.copyfileobj(src, out))
    return last


def _fail(path: Path, what: str) -> ModelFileError:
    return ModelFileError(f"{path} is not a usable model file: {what}")


def load_model(cls, path: str | Path):
    """Build a ``cls`` (a DeepNeuralNetwork) from a model or checkpoint file, validating everything."""
    path = Path(path)
    arrays, meta = load_arrays(path)
    config = meta.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("sizes"), list):
        raise _fail(path, "its metadata has no network configuration")
    try:
        net = cls(**config, verbose=False)
    except (TypeError, ValueError) as exc:
        raise _fail(path, f"its configuration is invalid ({exc})") from exc
    params = {k: v for k, v in arrays.items() if "/" not in k}
    _check_params(path, net, params)
    net.set_params(params)
    history = meta.get("history", [])
    if not isinstance(history, list):
        raise _fail(path, "its training history is not a list")
    net.history = history
    net.metadata = dict(meta.get("metadata") or {})
    # a loaded model has no run in progress: continuing it trains no further epochs
    state = {"run_start": 0, "target_epochs": len(history)}
    for key in state:  # files written before the loop control left ``metadata``
        if key in net.metadata:
            state[key] = net.metadata.pop(key)
    net.training_state = dataclasses.replace(net.training_state, **state)
    if meta.get("kind") == "checkpoint":
        _restore_training_state(path, net, arrays, meta)
    return net


def _check_params(path: Path, net, params: dict) -> None:
    expected = {k: v.shape for k, v in net.params.items()}
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected))
    if missing or extra:
        raise _fail(
            path, f"arrays do not match a {net.sizes} network (missing {missing}, unexpected {extra})"
        )
    for key, shape in expected.items():
        value = params[key]
        if value.shape != shape:
            raise _fail(path, f"{key} has shape {value.shape}, expected {shape}")
        if value.dtype not in (np.float32, np.float64):
            raise _fail(path, f"{key} has dtype {value.dtype}, expected float32 or float64")
        if not np.isfinite(value).all():
            raise _fail(path, f"{key} contains NaN or infinite values")


def _restore_training_state(path: Path, net, arrays: dict, meta: dict) -> None:
    state = {k[len(OPT_PREFIX) :]: v for k, v in arrays.items() if k.startswith(OPT_PREFIX)}
    try:
        net.optimizer.load_state_dict({"t": int(meta["optimizer_step"]), "arrays": state})
        net.rng.bit_generator.state = meta["rng_state"]
        best = dict(meta["best"])
        if "training_state" in meta:
            state = {k: int(v) for k, v in dict(meta["training_state"]).items()}
            net.training_state = dataclasses.replace(net.training_state, **state)
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"its training state is incomplete ({exc})") from exc
    best_params = {k[len(BEST_PREFIX) :]: v for k, v in arrays.items() if k.startswith(BEST_PREFIX)}
    if best_params:
        _check_params(path, net, best_params)
    best["params"] = best_params or None
    net.best = best
