"""``DeepNeuralNetwork``: the tutorial's class — a :class:`~nnscratch.network.Network` that can ``train``.

    net = DeepNeuralNetwork(sizes=[784, 128, 64, 10], epochs=10, l_rate=0.1)
    history = net.train(x_train, y_train, x_val, y_val)
    # Epoch: 1, Time Spent: 1.62s, Loss: 0.3542, Accuracy: 94.31%  ...

``train`` shuffles the samples each epoch (with the network's own ``np.random.Generator``), runs
one epoch with the fastest engine that computes the requested maths (the fused per-sample SGD kernel
for ``batch_size=1`` with plain SGD, the buffered mini-batch engine otherwise), evaluates on the
validation data, reports through callbacks, and returns the history: one dict per epoch.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nnscratch.errors import TrainingDiverged
from nnscratch.images.augment import Augmenter
from nnscratch.inputs import check_pixels, labels_from, one_hot
from nnscratch.network import Network
from nnscratch.training import checkpoint as ckpt
from nnscratch.training.callbacks import Callback, EpochLogger
from nnscratch.training.engines import BatchEngine, import_fast_kernels, sgd_per_sample_epoch
from nnscratch.training.optimizers import Optimizer, Schedule, get_optimizer, get_schedule

MONITORS = ("val_loss", "val_accuracy", "loss")


@dataclasses.dataclass
class TrainingState:
    """Loop control of the current :meth:`DeepNeuralNetwork.train` call: not user metadata, but saved
    in checkpoints so that a resumed run continues (and schedules its learning rate) bit for bit."""

    run_start: int = 0  # epochs in the history when this run began; the schedule counts from here
    target_epochs: int = 0  # the run trains up to this epoch number


class DeepNeuralNetwork(Network):
    """The tutorial's network, trainable.

    Beyond :class:`~nnscratch.network.Network`'s arguments:

    epochs : epochs per call of :meth:`train`.
    batch_size : 1 is the tutorial's pure SGD (one image at a time); 64–256 is mini-batch SGD.
    optimizer : ``sgd`` (default), ``momentum``, ``nesterov``, ``adam``, ``adamw`` or an
        :class:`~nnscratch.training.optimizers.Optimizer`; its learning rate is ``l_rate``.
    l_rate : the starting learning rate. By default it then decays along a cosine to 0 at the last
        epoch of each :meth:`train` call, which is worth about half a percent of accuracy over the
        tutorial's fixed rate; ``schedule="constant"`` keeps it fixed, as the tutorial did.
    schedule : ``cosine`` (default), ``constant``/None, ``step``, ``exponential`` (a name completed
        for ``epochs``, a config dict, or a :class:`~nnscratch.training.optimizers.Schedule`).
    l2 : L2 weight decay added to the loss as ``l2/2·Σ W²`` (weights only, not biases).
    dropout : inverted-dropout rate for every hidden layer (0 = off).
    augment : random affine augmentation of each training batch: ``True`` (default ranges), a dict of
        :class:`~nnscratch.images.augment.Augmenter` arguments, an ``Augmenter``, or None/False (off).
    early_stopping : patience in epochs (0 = off): stop when ``monitor`` has not improved for that
        many epochs, and put back the best weights seen.
    verbose : print the tutorial's line per epoch
        (through :class:`~nnscratch.training.callbacks.EpochLogger`).

    ``blas_threads`` (an attribute, 1 by default) is how many threads every BLAS in the process may use
    while a one-image-at-a-time epoch runs (its products are far too small to share); None leaves the
    BLAS settings alone. ``metadata`` is the user's: the CLI records the data set and split there, and
    it is saved with the model; the loop's own state is ``training_state``.
    """

    blas_threads: int | None = 1

    def __init__(
        self,
        sizes: Sequence[int] = (784, 128, 64, 10),
        epochs: int = 10,
        l_rate: float = 0.1,
        activation: str = "sigmoid",
        loss: str = "cross_entropy",
        bias: bool = True,
        init: str = "tutorial",
        batch_size: int = 1,
        optimizer: str | Optimizer | dict = "sgd",
        schedule: str | Schedule | dict | None = "cosine",
        l2: float = 0.0,
        dropout: float = 0.0,
        augment: bool | dict | Augmenter | None = None,
        early_stopping: int = 0,
        monitor: str = "val_loss",
        seed: int | np.random.Generator | None = None,
        verbose: bool = True,
        dtype=np.float32,
    ) -> None:
        super().__init__(sizes, l_rate, activation, loss, bias, init, seed, dtype)
        if not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be a whole number >= 0, got {epochs!r}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
        if not (isinstance(l2, (int, float)) and l2 >= 0):
            raise ValueError(f"l2 must be >= 0, got {l2!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if early_stopping < 0:
            raise ValueError(f"early_stopping (patience) must be >= 0, got {early_stopping!r}")
        if monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {', '.join(MONITORS)}, got {monitor!r}")
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.optimizer = get_optimizer(optimizer, lr=self.l_rate)
        self.schedule = get_schedule(schedule, epochs=self.epochs)
        self.l2, self.dropout = float(l2), float(dropout)
        self.augment = _augmenter(augment)
        self.early_stopping, self.monitor = int(early_stopping), monitor
        self.verbose = bool(verbose)
        self.history: list[dict] = []
        self.metadata: dict = {}
        self.training_state = TrainingState()
        self.best: dict = {"value": None, "epoch": None, "wait": 0, "params": None}

    # ------------------------------------------------------------------ training

    @property
    def uses_per_sample_kernel(self) -> bool:
        """Whether :meth:`train` runs the fused one-image-at-a-time SGD kernel."""
        return self.batch_size == 1 and self.optimizer.is_plain_sgd and not self.dropout and not self.l2

    def train(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        callbacks: Sequence[Callback] | None = None,
        checkpoint_dir: str | Path | None = None,
    ) -> list[dict]:
        """Train for ``self.epochs`` more epochs (fewer if early stopping triggers); return the history.

        ``x_*`` are images: uint8 pixels (kept as uint8 — each batch is scaled on the fly, so no float
        copy of the data set is made) or floats in [0, 1]; (n, 784) or (n, 28, 28). ``y_*`` are
        integer labels or one-hot rows. With ``checkpoint_dir``, the full training state is written
        after every epoch (``last.npz``, and ``best.npz`` when the monitored value improves); use
        :meth:`resume` to continue from it.
        """
        self.training_state = TrainingState(len(self.history), len(self.history) + self.epochs)
        return self._fit(x_train, y_train, x_val, y_val, callbacks, checkpoint_dir)

    def _fit(self, x_train, y_train, x_val, y_val, callbacks, checkpoint_dir) -> list[dict]:
        """Run epochs up to ``training_state.target_epochs``."""
        x_train, labels = self._check_data(x_train, y_train, "training")
        val = None
        if x_val is not None or y_val is not None:
            if x_val is None or y_val is None:
                raise ValueError("give both x_val and y_val, or neither")
            val = self._check_data(x_val, y_val, "validation")
        callbacks = list(callbacks) if callbacks is not None else ([EpochLogger()] if self.verbose else [])
        first, last = len(self.history) + 1, self.training_state.target_epochs
        if self.uses_per_sample_kernel:
            import_fast_kernels()
        for cb in callbacks:
            cb.on_train_begin(self, last, len(labels))
        for epoch in range(first, last + 1):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            logs = self._run_epoch(epoch, x_train, labels, val, callbacks)
            self.history.append(logs)
            stop = self._track_best(logs)
            if checkpoint_dir is not None:
                ckpt.write_checkpoint(self, checkpoint_dir, improved=self.best["epoch"] == epoch)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if stop:
                break
        if self.early_stopping and self.best["params"] is not None:
            self.set_params(self.best["params"])  # keep the best weights seen
        for cb in callbacks:
            cb.on_train_end(self.history)
        return self.history

    @classmethod
    def resume(
        cls,
        checkpoint_dir: str | Path,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        callbacks: Sequence[Callback] | None = None,
    ) -> DeepNeuralNetwork:
        """Continue an interrupted :meth:`train` from ``checkpoint_dir/last.npz`` until the number of
        epochs that run was asked for, on the same data; return the trained network. The weights are
        bit-identical to those of a run that was never interrupted."""
        net = cls.load(Path(checkpoint_dir) / "last.npz")
        net.continue_training(x_train, y_train, x_val, y_val, callbacks, checkpoint_dir)
        return net

    def continue_training(
        self,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        callbacks: Sequence[Callback] | None = None,
        checkpoint_dir: str | Path | None = None,
        until: int | None = None,
    ) -> list[dict]:
        """Run the epochs an interrupted :meth:`train` still owed, on a network loaded from its
        checkpoint (:meth:`resume` loads and calls this); return the history. ``until`` moves the
        run's end: train on until the history has that many epochs."""
        if until is not None:
            self.training_state = dataclasses.replace(self.training_state, target_epochs=int(until))
        return self._fit(x_train, y_train, x_val, y_val, callbacks, checkpoint_dir)

    def _run_epoch(self, epoch, x, labels, val, callbacks) -> dict:
        n = len(labels)
        order = self.rng.permutation(n)
        steps = n if self.uses_per_sample_kernel else math.ceil(n / self.batch_size)
        # progress in epochs since this run's start, for the learning-rate schedule
        progress = (epoch - 1 - self.training_state.run_start) + np.arange(steps) / steps
        lrs = np.asarray(self.schedule(progress, self.l_rate), dtype=np.float64)
        aug, rng = self.augment, self.rng
        augment = None if aug is None else (lambda xb, out: aug(xb, rng, out=out))
        notify = _fan_out(callbacks)
        start = time.perf_counter()
        if self.uses_per_sample_kernel:
            total = sgd_per_sample_epoch(
                self,
                x,
                labels,
                order,
                lrs,
                augment=augment,
                on_progress=notify,
                blas_threads=self.blas_threads,
            )
        else:
            total = self._batch_engine().epoch(
                x, labels, order, lrs, self.optimizer, rng=rng, augment=augment, on_progress=notify
            )
        elapsed = time.perf_counter() - start
        loss = total / n
        if not math.isfinite(loss) or not all(np.isfinite(W).all() for W in self.Wb):
            raise TrainingDiverged(
                f"training diverged in epoch {epoch}: the loss became {loss} (NaN or infinite); "
                f"try a smaller learning rate than {self.l_rate:g}"
            )
        logs = {"epoch": epoch, "time": elapsed, "loss": loss, "lr": float(lrs[-1])}
        logs["val_loss"] = logs["val_accuracy"] = None
        if val is not None:
            logs["val_loss"], logs["val_accuracy"] = self.evaluate(*val)
        return logs

    def _batch_engine(self) -> BatchEngine:
        """The mini-batch engine, its buffers made once and reused every batch (rebuilt when the batch
        size, dropout or L2 changed)."""
        engine = getattr(self, "_engine", None)
        setup = (self.batch_size, self.dropout, self.l2)
        if engine is None or (engine.A[0].shape[0], engine.dropout, engine.l2) != setup:
            engine = self._engine = BatchEngine(self, *setup)
        return engine

    def __getstate__(self) -> dict:
        """As :meth:`Network.__getstate__`, without the engine's buffers (rebuilt on the next epoch)."""
        state = super().__getstate__()
        state.pop("_engine", None)
        return state

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(mean loss, accuracy) on images ``x`` with labels ``y`` (integer or one-hot)."""
        z = self.logits(x)
        labels = labels_from(y, self.sizes[-1])
        t = one_hot(labels, self.sizes[-1], z.dtype)
        return float(self.loss.value(z, t)), float(np.mean(z.argmax(axis=1) == labels))

    def _track_best(self, logs: dict) -> bool:
        """Remember the best epoch by ``monitor``; return True when early stopping says stop."""
        key = self.monitor if logs.get(self.monitor) is not None else "loss"
        value = logs[key]
        sign = 1.0 if key == "val_accuracy" else -1.0  # larger accuracy / smaller loss is better
        best = self.best
        if best["value"] is None or sign * value > sign * best["value"]:
            best.update(value=value, epoch=logs["epoch"], wait=0)
            if self.early_stopping:
                best["params"] = self.get_params()
            return False
        best["wait"] += 1
        return bool(self.early_stopping) and best["wait"] >= self.early_stopping

    def _check_data(self, x, y, what: str) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x)
        n_in = self.sizes[0]
        if x.ndim < 2 or math.prod(x.shape[1:]) != n_in:
            raise ValueError(
                f"{what} images must have shape (n, {n_in}) (or (n, h, w) with h·w = {n_in}), got {x.shape}"
            )
        check_pixels(x, f"{what} images")
        labels = labels_from(y, self.sizes[-1])
        if len(labels) != len(x):
            raise ValueError(f"{what} data has {len(x)} images but {len(labels)} labels")
        if len(labels) == 0:
            raise ValueError(f"{what} data is empty")
        return x, labels

    # ------------------------------------------------------------------ saving

    def training_config(self) -> dict:
        """Everything needed to rebuild this object (JSON-able)."""
        return {
            **self.config(),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": {
                **self.optimizer.config(),
                "lr": self.l_rate,
            },  # the base rate, not the scheduled one
            "schedule": self.schedule.config(),
            "l2": self.l2,
            "dropout": self.dropout,
            "augment": None if self.augment is None else dataclasses.asdict(self.augment),
            "early_stopping": self.early_stopping,
            "monitor": self.monitor,
        }

    def save(self, path: str | Path) -> Path:
        """Write the weights, configuration, history and ``metadata`` to ``path`` (``.npz``), atomically."""
        return ckpt.save_model(self, path)

    @classmethod
    def load(cls, path: str | Path) -> DeepNeuralNetwork:
        """Read a model written by :meth:`save` (or a checkpoint), validating every array."""
        return ckpt.load_model(cls, path)


def _augmenter(spec) -> Augmenter | None:
    if spec is None or spec is False:
        return None
    if spec is True:
        return Augmenter()
    if isinstance(spec, dict):
        return Augmenter(**spec)
    if isinstance(spec, Augmenter):
        return spec
    raise ValueError(
        f"augment must be True/False/None, a dict of Augmenter arguments or an Augmenter, got {spec!r}"
    )


def _fan_out(callbacks: Sequence[Callback]) -> Callable[[int], None] | None:
    if not callbacks:
        return None

    def notify(n: int) -> None:
        for cb in callbacks:
            cb.on_progress(n)

    return notify
