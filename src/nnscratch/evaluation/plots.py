"""Pictures of a trained network: learning curves, confusion matrix, mistakes, weights, calibration.

Every function takes plain NumPy arrays / lists of dicts and an output path, writes one PNG atomically
(temporary file in the same folder, then ``os.replace``; missing folders are created) and returns the
path. Matplotlib is imported
only when a plot is drawn (``pip install 'nnscratch[plots]'``); figures are created with
``matplotlib.figure.Figure`` and rendered by the Agg backend, so no window, no pyplot global state
and no display are needed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch._files import atomic_write
from nnscratch._optional import require
from nnscratch.inputs import labels_from

DPI = 100


#: No figure is narrower than this (inches), so a title fits even over a 3-class matrix or 4 units.
MIN_WIDTH = 4.4


def _figure(width: float, height: float) -> Any:
    Figure = require("matplotlib.figure", "plots", "drawing plots").Figure
    return Figure(figsize=(max(width, MIN_WIDTH), height), dpi=DPI, layout="constrained")


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Render ``fig`` as PNG to ``path`` atomically."""
    return atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=DPI))


def _series(history: Sequence[Mapping[str, Any]], *keys: str) -> tuple[str, list[float]] | None:
    """The first of ``keys`` recorded in ``history`` (None entries become NaN), or None."""
    for key in keys:
        values = [row.get(key) for row in history]
        if any(v is not None for v in values):
            return key, [math.nan if v is None else float(v) for v in values]
    return None


def plot_learning_curves(history: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Training/validation loss and accuracy per epoch, from the ``history`` list of per-epoch dicts.

    Uses the keys ``epoch``, ``loss``, ``val_loss``, ``val_accuracy`` and, when recorded, ``accuracy``
    or ``train_accuracy``; missing or None values are left out.
    """
    if not history:
        raise ValueError("cannot plot learning curves: the training history is empty")
    epochs = [int(row.get("epoch", i + 1)) for i, row in enumerate(history)]
    fig = _figure(10, 4)
    ax_loss, ax_acc = fig.subplots(1, 2)
    marker = "o" if len(epochs) <= 30 else None
    for keys, label, ax, scale in (
        (("loss", "train_loss"), "training", ax_loss, 1.0),
        (("val_loss",), "validation", ax_loss, 1.0),
        (("accuracy", "train_accuracy"), "training", ax_acc, 100.0),
        (("val_accuracy",), "validation", ax_acc, 100.0),
    ):
        found = _series(history, *keys)
        if found is not None:
            ax.plot(epochs, np.asarray(found[1]) * scale, marker=marker, label=label)
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy (%)")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
        else:
            ax.text(
                0.5, 0.5, f"no {name.split()[0]} recorded", ha="center", va="center", transform=ax.transAxes
            )
        if len(epochs) <= 12:
            ax.set_xticks(epochs)
    ax_loss.set_title("Loss per epoch")
    ax_acc.set_title("Accuracy per epoch")
    return _save(fig, path)


def plot_confusion_matrix(
    cm: np.ndarray, path: str | os.PathLike[str], *, labels: Sequence[str] | None = None
) -> Path:
    """Heatmap of a confusion matrix (rows true class, columns predicted) with the counts written in.

    Colours show the share of each true class (square-root scale, so rare confusions stay visible).
    """
    from matplotlib.colors import PowerNorm

    cm = np.asarray(cm, dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix must be square, got shape {cm.shape}")
    k = cm.shape[0]
    labels = [str(i) for i in range(k)] if labels is None else [str(s) for s in labels]
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = _figure(1.0 + 0.62 * k, max(0.4 + 0.55 * k, 3.6))  # square cells: the height sets the width
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", norm=PowerNorm(0.5, vmin=0.0, vmax=1.0))
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    for i in range(k):
        for j in range(k):
            if cm[i, j]:
                colour = "white" if share[i, j] > 0.45 else "black"
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=colour, fontsize=8)
    ax.set_xticks(range(k), labels)
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    correct = int(np.trace(cm))
    ax.set_title(f"Confusion matrix ({correct} of {int(cm.sum())} correct)", fontsize=12 if k >= 6 else 10)
    return _save(fig, path)


def plot_misclassified(
    images: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    confidence: np.ndarray,
    path: str | os.PathLike[str],
    *,
    max_images: int = 40,
    columns: int = 10,
) -> Path:
    """Grid of the misclassified digits, most confident mistakes first, titled ``true → predicted (p)``.

    ``images`` are all test images ((n, 28, 28) or (n, 784)); ``confidence`` is the probability the
    network gave its prediction. Only the rows where ``y_true != y_pred`` are drawn.
    """
    images = np.asarray(images)
    images = images.reshape(len(images), -1)
    side = math.isqrt(images.shape[1])
    y_true, y_pred = labels_from(y_true), labels_from(y_pred)
    confidence = np.asarray(confidence, dtype=np.float64)
    wrong = np.flatnonzero(y_true != y_pred)
    order = wrong[np.argsort(-confidence[wrong], kind="stable")][:max_images]
    cols = max(1, min(columns, len(order)))
    rows = max(1, math.ceil(len(order) / cols))
    fig = _figure(1.25 * cols + 0.2, 1.45 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    if len(order) == 0:
        axes[0].text(0.5, 0.5, "no misclassified digits", ha="center", va="center")
    for ax, i in zip(axes, order, strict=False):
        ax.imshow(images[i].reshape(side, side), cmap="gray", interpolation="nearest")
        ax.set_title(f"{y_true[i]} → {y_pred[i]} ({confidence[i]:.0%})", fontsize=9)
    fig.suptitle(
        f"Misclassified: {len(wrong)} of {len(y_true)} (showing {len(order)}, most confident first; "
        "true → predicted)",
        fontsize=11,
    )
    return _save(fig, path)


def plot_first_layer_weights(w1: np.ndarray, path: str | os.PathLike[str], *, max_units: int = 64) -> Path:
    """The first layer's weights as images: row ``j`` of ``W1`` (n_out, 784) reshaped to 28×28.

    Each unit gets its own symmetric colour range (red positive, blue negative, white zero): the pixels
    that push that hidden unit up or down.
    """
    w1 = np.asarray(w1, dtype=np.float64)
    side = math.isqrt(w1.shape[1]) if w1.ndim == 2 else 0
    if side * side != (w1.shape[1] if w1.ndim == 2 else -1):
        raise ValueError(f"first-layer weights must have shape (units, side*side), got {w1.shape}")
    units = w1[:max_units]
    cols = math.ceil(math.sqrt(len(units)))
    rows = math.ceil(len(units) / cols)
    fig = _figure(1.0 * cols + 0.2, 1.0 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for j, (ax, row) in enumerate(zip(axes, units, strict=False)):
        limit = float(np.abs(row).max()) or 1.0
        ax.imshow(row.reshape(side, side), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(str(j), fontsize=7, pad=1)
    fig.suptitle(f"First-layer weights ({len(units)} of {len(w1)} units)", fontsize=11)
    return _save(fig, path)


def plot_calibration(
    proba: np.ndarray, y_true: np.ndarray, path: str | os.PathLike[str], *, n_bins: int = 15
) -> Path:
    """Reliability diagram: accuracy against confidence (the largest probability) per equal-width bin.

    The title gives the expected calibration error
    (:func:`nnscratch.evaluation.metrics.expected_calibration_error` with the same bins); a histogram
    below shows how many predictions fall in each bin.
    """
    from nnscratch.evaluation.metrics import expected_calibration_error

    ece, confidence, accuracy, count = expected_calibration_error(
        np.asarray(proba, dtype=np.float64), labels_from(y_true), n_bins
    )
    width = 1.0 / n_bins
    centres = np.linspace(0.0, 1.0, n_bins + 1)[:-1] + width / 2
    used = count > 0
    fig = _figure(5.5, 6.2)
    ax, ax_hist = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.bar(
        centres[used],
        accuracy[used],
        width=width * 0.95,
        color="tab:blue",
        alpha=0.8,
        edgecolor="black",
        label="accuracy in bin",
    )
    ax.plot(confidence[used], accuracy[used], "o", color="tab:orange", label="(mean confidence, accuracy)")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(f"Calibration (ECE = {ece:.2%}, {n_bins} bins)")
    ax_hist.bar(centres, count, width=width * 0.95, color="grey", edgecolor="black")
    ax_hist.set_yscale("symlog", linthresh=1)
    ax_hist.set_xlim(0, 1)
    ax_hist.set_xlabel("confidence (largest predicted probability)")
    ax_hist.set_ylabel("predictions")
    return _save(fig, path)
