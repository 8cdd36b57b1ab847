"""Teach a trained network someone's handwriting without making it forget MNIST.

    result = finetune(net, images, labels, replay=(x_train, y_train), test=(x_test, y_test))
    result.accepted, result.reason      # False when MNIST test accuracy would drop > max_drop points
    result.network                      # the fine-tuned COPY; ``net`` itself is never modified
    result.to_dict()                    # the figures, JSON-ready

It is a function, not a ``DeepNeuralNetwork`` method, so that the trainer never imports this module
(which builds on it): imports point one way.

What it does, in order (every random choice from one ``np.random.default_rng(seed)``):

1. Hold out ``holdout`` of the user's digits, per class (at least one digit of each class stays
   for training), to measure accuracy on them before and after.
2. Build one training pass: the remaining user digits repeated ``epochs`` times (every copy after
   the first randomly shifted, rotated and scaled by ``augment``), mixed with ``replay_ratio``
   replayed MNIST training digits per user digit and copy (a fresh draw each time, never
   augmented: they stand for MNIST as the network learnt it), shuffled.
3. Train a copy of the network on it with plain SGD, ``batch_size`` images at a time, the learning
   rate starting at ``lr`` and decaying along a cosine to 0, through the network's own engines.
4. Measure MNIST test accuracy before and after: if it dropped by more than ``max_drop``
   percentage points, the result is not accepted (``accepted=False`` and a reason); the caller must
   then not use ``result.network`` (``nnscratch finetune`` writes nothing).

The default recipe (``RECIPE``) was chosen on a train/validation split of a generated handwriting
style, with forgetting measured on MNIST training images the base network never saw, never on a test
set: see ``benchmarks/tune_finetune.py`` and the README.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch._files import file_sha256
from nnscratch.errors import FinetuneError, TrainingDiverged
from nnscratch.inputs import scale_pixels
from nnscratch.network import Network
from nnscratch.training.callbacks import FractionProgress
from nnscratch.training.trainer import DeepNeuralNetwork

#: The ranges user digits are augmented with (``augment=True``): up to 1 pixel of shift, 5 degrees of
#: rotation and 5 % of scaling; the augmentation with twice these ranges forgot more MNIST.
AUGMENT: dict[str, Any] = {"max_shift": 1.0, "max_rotation": 5.0, "scale_range": [0.95, 1.05]}
#: The default starting learning rate by the network's hidden activation (``lr=None``): the recipe
#: was tuned on the tutorial's sigmoid network (0.02) and on the ``best`` preset's ReLU network, where
#: 0.02 forgot 0.4 points of MNIST and 0.005 none (tanh was not tuned: it gets the careful rate).
LR_BY_ACTIVATION: dict[str, float] = {"sigmoid": 0.02, "relu": 0.005, "leaky_relu": 0.005, "tanh": 0.005}
#: The default recipe; every key can be overridden as a keyword of :func:`finetune`. Chosen by
#: ``benchmarks/tune_finetune.py`` (README, "Teach it your handwriting"): on the tuning style the
#: tutorial network reads 99.4 % of the validation digits (79 % before) for 0.11 points of MNIST
#: validation accuracy, the ``best`` preset's 99.9 % (90 % before) for 0.04 points.
RECIPE: dict[str, Any] = {
    "epochs": 5,  # passes over the user's digits (each pass after the first augmented afresh)
    "lr": None,  # starting rate of plain SGD, cosine-decayed to 0; None: LR_BY_ACTIVATION
    "batch_size": 1,  # images per step (1: the tutorial's SGD, with the fused per-image kernel)
    "replay_ratio": 16.0,  # replayed MNIST training digits per user digit, in every pass
    "augment": AUGMENT,
}
#: At most this many images in the one training pass (float32: 3 KB each, so about 1 GB).
MAX_IMAGES = 300_000
#: Default share of the user's digits held out to measure them before/after.
HOLDOUT = 0.25
#: Default refusal threshold: MNIST test accuracy may drop by at most this many percentage points.
MAX_DROP = 0.5


@dataclass
class FinetuneResult:
    """What :func:`finetune` did and measured. Accuracies are fractions in [0, 1] (None when not
    measured: no held-out user digits, no ``test`` set, or training diverged)."""

    network: Network
    accepted: bool
    reason: str
    user_before: float | None = None
    user_after: float | None = None
    test_before: float | None = None
    test_after: float | None = None
    digits_per_class: dict[str, int] = field(default_factory=dict)
    n_trained: int = 0
    n_held_out: int = 0
    n_replayed: int = 0
    seconds: float = 0.0
    recipe: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    max_drop: float = MAX_DROP

    @property
    def test_drop(self) -> float | None:
        """How many percentage points MNIST test accuracy fell (negative: it rose)."""
        if self.test_before is None or self.test_after is None:
            return None
        return round(100.0 * (self.test_before - self.test_after), 6)

    def to_dict(self) -> dict[str, Any]:
        """The figures as plain JSON types (what the web API returns)."""
        return {
            "accepted": self.accepted,
            "reason": self.reason,
            "user_holdout": {"n": self.n_held_out, "before": self.user_before, "after": self.user_after},
            "mnist_test": {
                "before": self.test_before,
                "after": self.test_after,
                "drop_points": self.test_drop,
                "max_drop_points": self.max_drop,
            },
            "digits_per_class": dict(self.digits_per_class),
            "n_trained": self.n_trained,
            "n_replayed": self.n_replayed,
            "seconds": self.seconds,
            "recipe": copy.deepcopy(self.recipe),
            "seed": self.seed,
        }


def finetune(
    net: Network,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    replay: tuple[np.ndarray, np.ndarray] | None = None,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    holdout: float = HOLDOUT,
    seed: int = 0,
    max_drop: float = MAX_DROP,
    progress: Callable[[float], None] | None = None,
    source: str | Path | None = None,
    **recipe: Any,
) -> FinetuneResult:
    """Fine-tune a copy of ``net`` on the user's ``images`` (n, 28, 28) or (n, 784), floats in [0, 1]
    or uint8, with integer ``labels`` (n,); see the module docstring for the steps.

    replay : MNIST training images and labels mixed in so the network does not forget (recommended).
    test : MNIST test images and labels, measured before and after (without it: not checked, accepted).
    holdout : share of the user's digits held out for the before/after figures (0 = train on all).
    seed : the only source of randomness; the same seed gives the same network, bit for bit.
    max_drop : refuse (``accepted=False``) when MNIST test accuracy drops by more points than this.
    progress : called with the fraction done (0.0 … 1.0) while training.
    source : the model file ``net`` was loaded from, recorded (name and sha256) in the metadata.
    recipe : overrides of :data:`RECIPE` (``epochs``, ``lr``, ``batch_size``, ``replay_ratio``,
        ``augment``: True, False/None or a dict of Augmenter ranges); ``lr=None`` picks the rate
        by the network's activation (:data:`LR_BY_ACTIVATION`).
    """
    start = time.perf_counter()
    recipe = _recipe(recipe, net)
    x, y = _user_data(net, images, labels)
    _check_options(holdout, max_drop, seed)
    replay, test = _pair("replay", replay, net), _pair("test", test, net)
    rng = np.random.default_rng(seed)
    train_idx, held_idx = _split(y, holdout, rng)
    trainer = _trainer(net, recipe, rng)
    xs, ys = _training_set(x[train_idx], y[train_idx], replay, recipe, rng, trainer.augment)
    result = FinetuneResult(
        copy.deepcopy(net), False, "", recipe=recipe, seed=int(seed), max_drop=float(max_drop)
    )
    result.digits_per_class = {str(c): int(np.sum(y == c)) for c in range(net.sizes[-1])}
    result.n_trained, result.n_held_out = len(train_idx), len(held_idx)
    result.n_replayed = len(ys) - len(train_idx) * recipe["epochs"]
    held = (x[held_idx], y[held_idx]) if len(held_idx) else None
    result.user_before, result.test_before = _measure(net, held, test)
    if progress is not None:
        progress(0.0)
    try:
        result.network.set_params(_train(trainer, xs, ys, progress))
    except TrainingDiverged as exc:  # result.network is still an unchanged copy
        result.reason = f"{exc}; the network was not changed"
    else:
        result.user_after, result.test_after = _measure(result.network, held, test)
        result.accepted, result.reason = _verdict(result)
    result.seconds = time.perf_counter() - start
    _record(result.network, result, source)
    if progress is not None:
        progress(1.0)
    return result


def _measure(net: Network, held, test) -> tuple[float | None, float | None]:
    """(accuracy on the held-out user digits, accuracy on the test set), None where not given."""
    user = None if held is None else net.compute_accuracy(*held)
    return user, None if test is None else net.compute_accuracy(*test)


def _recipe(overrides: Mapping[str, Any], net: Network) -> dict[str, Any]:
    unknown = sorted(set(overrides) - set(RECIPE))
    if unknown:
        raise FinetuneError(
            f"unknown fine-tuning option(s) {', '.join(unknown)}; the recipe has {', '.join(RECIPE)}"
        )
    recipe = {**copy.deepcopy(RECIPE), **overrides}
    if recipe["lr"] is None:
        recipe["lr"] = LR_BY_ACTIVATION.get(net.activation.name, min(LR_BY_ACTIVATION.values()))
    epochs, lr, batch, ratio = recipe["epochs"], recipe["lr"], recipe["batch_size"], recipe["replay_ratio"]
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise FinetuneError(f"epochs must be a whole number >= 1, got {epochs!r}")
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise FinetuneError(f"lr (learning rate) must be a positive number, got {lr!r}")
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise FinetuneError(f"batch_size must be a whole number >= 1, got {batch!r}")
    if not isinstance(ratio, (int, float)) or not math.isfinite(ratio) or ratio < 0:
        raise FinetuneError(f"replay_ratio must be a number >= 0, got {ratio!r}")
    recipe.update(epochs=int(epochs), lr=float(lr), batch_size=int(batch), replay_ratio=float(ratio))
    augment = recipe["augment"]
    if augment is True:
        recipe["augment"] = copy.deepcopy(AUGMENT)
    elif not augment:
        recipe["augment"] = None
    elif not isinstance(augment, Mapping) or set(augment) - {*AUGMENT, "shear"}:
        raise FinetuneError(
            f"augment must be True, False/None or a dict with keys among {', '.join(AUGMENT)}, shear; "
            f"got {augment!r}"
        )
    return recipe


def _user_data(net: Network, images, labels) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(images)
    n_in, n_classes = net.sizes[0], net.sizes[-1]
    if x.ndim < 2 or math.prod(x.shape[1:]) != n_in:
        raise FinetuneError(f"images must have shape (n, {n_in}) or (n, 28, 28), got {x.shape}")
    if len(x) == 0:
        raise FinetuneError("there are no images to fine-tune on")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.floating):
            raise FinetuneError(f"images must be uint8 pixels or floats in [0, 1], got {x.dtype}")
        if not np.isfinite(x).all():
            raise FinetuneError("images contain NaN or infinite values")
    x = x.reshape(len(x), n_in)
    x = scale_pixels(x, net.dtype)
    y = np.asarray(labels)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise FinetuneError(f"labels must be {len(x)} whole numbers (one per image), got shape {y.shape}")
    if y.min() < 0 or y.max() >= n_classes:
        raise FinetuneError(f"labels must be in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    return x, y.astype(np.intp)


def _check_options(holdout: float, max_drop: float, seed: int) -> None:
    if not isinstance(holdout, (int, float)) or not 0.0 <= holdout < 1.0:
        raise FinetuneError(f"holdout must be a fraction in [0, 1), got {holdout!r}")
    if not isinstance(max_drop, (int, float)) or not max_drop >= 0:
        raise FinetuneError(f"max_drop must be a number of percentage points >= 0, got {max_drop!r}")
    if not isinstance(seed, (int, np.integer)):
        raise FinetuneError(f"seed must be a whole number, got {seed!r}")


def _pair(name: str, pair, net: Network) -> tuple[np.ndarray, np.ndarray] | None:
    """Check an (images, labels) pair such as ``replay`` or ``test``; None stays None."""
    if pair is None:
        return None
    try:
        x, y = (np.asarray(v) for v in pair)
    except (TypeError, ValueError):
        raise FinetuneError(f"{name} must be a pair (images, labels)") from None
    n_in = net.sizes[0]
    if x.ndim < 2 or math.prod(x.shape[1:]) != n_in or len(x) == 0 or y.shape != (len(x),):
        raise FinetuneError(
            f"{name} must be (images (n, {n_in}) or (n, 28, 28), labels (n,)) with n >= 1, "
            f"got shapes {x.shape} and {y.shape}"
        )
    return x, y


def _split(y: np.ndarray, holdout: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per class, hold out round(holdout·n) digits, but keep at least one for training."""
    train, held = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = min(int(math.floor(holdout * len(idx) + 0.5)), len(idx) - 1)
        held.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def _trainer(net: Network, recipe: dict, rng: np.random.Generator) -> DeepNeuralNetwork:
    """A DeepNeuralNetwork like ``net`` (its weights) that trains one shuffled pass of plain SGD,
    ``batch_size`` images per step, the rate decaying from ``lr`` along a cosine to 0."""
    trainer = DeepNeuralNetwork(
        sizes=net.sizes,
        activation=net.activation.name,
        loss=net.loss.name,
        bias=net.bias,
        dtype=net.dtype,
        epochs=1,
        l_rate=recipe["lr"],
        batch_size=recipe["batch_size"],
        optimizer="sgd",
        schedule="cosine",
        augment=recipe["augment"],
        seed=rng,
        verbose=False,
    )
    trainer.set_params(net.get_params())
    return trainer


def _training_set(x, y, replay, recipe, rng, augment) -> tuple[np.ndarray, np.ndarray]:
    """The user digits ``epochs`` times (each copy after the first randomly moved by ``augment``),
    plus ``replay_ratio`` fresh replayed MNIST digits per user digit and copy, never augmented: the
    replayed digits stand for MNIST as the network learnt it."""
    epochs = recipe["epochs"]
    n_replay = int(round(recipe["replay_ratio"] * len(y))) * epochs if replay is not None else 0
    if len(y) * epochs + n_replay > MAX_IMAGES:
        raise FinetuneError(
            f"{len(y)} digits x {epochs} passes with {n_replay} replayed digits is more than "
            f"{MAX_IMAGES:,} images to train on; use fewer digits, passes or a smaller replay ratio"
        )
    copies = [x] + [augment(x, rng).astype(x.dtype) if augment else x for _ in range(epochs - 1)]
    xs, ys = copies, [y] * epochs
    if replay is not None and n_replay:
        rx, ry = replay
        pick = rng.choice(len(rx), size=n_replay, replace=n_replay > len(rx))
        chosen = rx[pick].reshape(n_replay, -1)
        xs.append(scale_pixels(chosen, x.dtype))
        ys.append(np.asarray(ry)[pick].astype(np.intp))
    return np.concatenate(xs), np.concatenate(ys)


def _train(trainer: DeepNeuralNetwork, xs, ys, progress) -> dict[str, np.ndarray]:
    trainer.augment = None  # the user's digits were augmented in _training_set, the replayed ones stay
    callbacks = [] if progress is None else [FractionProgress(lambda f: progress(min(f, 0.999)))]
    trainer.train(xs, ys, callbacks=callbacks)
    return trainer.get_params()


def _verdict(result: FinetuneResult) -> tuple[bool, str]:
    if result.test_before is None or result.test_after is None:
        return True, "no MNIST test set was given, so forgetting was not measured"
    before, after = 100 * result.test_before, 100 * result.test_after
    drop = before - after
    change = f"MNIST test accuracy {before:.2f}% -> {after:.2f}%"
    if drop > result.max_drop:
        return False, (
            f"refused: {change}, a drop of {drop:.2f} points, more than the {result.max_drop:g}-point "
            "limit; try fewer epochs, a smaller learning rate or more replayed MNIST digits"
        )
    return True, f"{change} (change {-drop:+.2f} points, limit -{result.max_drop:g})"


def _record(tuned: Network, result: FinetuneResult, source: str | Path | None) -> None:
    """Write what was done into ``tuned.metadata`` (saved with the model)."""
    metadata = getattr(tuned, "metadata", None)
    if metadata is None:
        return
    entry = {k: v for k, v in result.to_dict().items() if k != "reason"}
    entry["from"] = None if source is None else {"file": Path(source).name, "sha256": file_sha256(source)}
    if "finetune" in metadata:
        metadata.setdefault("finetune_history", []).append(metadata["finetune"])
    metadata["finetune"] = entry
    if result.test_after is not None:
        metadata["test_accuracy"] = result.test_after
