"""Classification metrics in plain NumPy: accuracy, confusion matrix, per-class precision/recall/F1,
and expected calibration error."""

from __future__ import annotations

import numpy as np


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of positions where ``y_true == y_pred``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """(n_classes, n_classes) counts: row = true class, column = predicted class."""
    y_true = np.asarray(y_true, dtype=np.intp)
    y_pred = np.asarray(y_pred, dtype=np.intp)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} holds labels outside 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def precision_recall_f1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1 from a confusion matrix (0 where undefined)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1


def expected_calibration_error(
    proba: np.ndarray, y_true: np.ndarray, n_bins: int = 15
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """ECE of the top-class confidence, and the per-bin (confidence, accuracy, count) behind it.

    Bins are equal-width over (0, 1]; empty bins get NaN confidence/accuracy and count 0."""
    proba = np.asarray(proba)
    y_true = np.asarray(y_true)
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    conf_sum = np.bincount(bins, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = conf_sum / counts
        mean_acc = acc_sum / counts
    nonempty = counts > 0
    ece = float(
        np.sum(counts[nonempty] * np.abs(mean_acc[nonempty] - mean_conf[nonempty])) / max(len(y_true), 1)
    )
    return ece, mean_conf, mean_acc, counts


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 10) -> str:
    """A plain-text table: per-class precision, recall, F1 and support, then the accuracy."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    precision, recall, f1 = precision_recall_f1(cm)
    lines = [f"{'class':>5}  {'precision':>9}  {'recall':>6}  {'f1':>6}  {'support':>7}"]
    for k in range(n_classes):
        lines.append(f"{k:>5}  {precision[k]:>9.4f}  {recall[k]:>6.4f}  {f1[k]:>6.4f}  {cm[k].sum():>7d}")
    lines.append(f"accuracy: {np.trace(cm) / max(cm.sum(), 1):.4f} on {cm.sum()} samples")
    return "\n".join(lines)


def format_confusion_matrix(cm: np.ndarray) -> str:
    """The confusion matrix as aligned text, rows = true class, columns = predicted class."""
    k = cm.shape[0]
    width = max(5, len(str(int(cm.max()))) + 1)
    head = "true\\pred" + "".join(f"{j:>{width}}" for j in range(k))
    rows = [f"{i:>9}" + "".join(f"{int(v):>{width}}" for v in cm[i]) for i in range(k)]
    return "\n".join([head, *rows])
