"""A one-page evaluation report of a trained network: metrics, per-class table, pictures, configuration.

:func:`write_report` evaluates a model on a test set, writes the PNGs of :mod:`nnscratch.evaluation.plots`
into a folder, and writes ``report.html`` next to them: a single self-contained page (the images are
inlined as base64 ``data:`` URIs, so the HTML file can be mailed or archived on its own). No template
engine: plain strings with every value passed through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nnscratch._files import atomic_write
from nnscratch.evaluation import metrics, plots
from nnscratch.inputs import labels_from
from nnscratch.losses import log_loss

#: PNG file names written next to the HTML page, with their section titles and captions.
FIGURES = {
    "learning_curves.png": (
        "Learning curves",
        "Loss and accuracy per epoch on the training data and (when given) the validation data.",
    ),
    "confusion_matrix.png": (
        "Confusion matrix",
        "Rows are the true digits, columns the predicted ones; the counts are test images.",
    ),
    "calibration.png": (
        "Calibration",
        "How often the network is right when it is p % sure: bars on the diagonal mean well calibrated.",
    ),
    "misclassified.png": (
        "Misclassified digits",
        "Test digits the network got wrong, most confident mistakes first (true → predicted, confidence).",
    ),
    "weights_layer1.png": (
        "First-layer weights",
        "Each hidden unit's 784 input weights as a 28×28 image (red positive, blue negative).",
    ),
}

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.7em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; background: #fafafa; }
.cards { display: flex; gap: 1em; flex-wrap: wrap; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1.1em; min-width: 9em; }
.card .v { font-size: 1.6em; font-weight: 600; } .card .k { color: #666; font-size: 0.85em; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{100 * value:.2f} %"


def _value_html(value: Any, limit: int = 400) -> str:
    """One metadata value as HTML: scalars as text, small dicts as nested tables, the rest as JSON."""
    flat = isinstance(value, Mapping) and all(not isinstance(v, (Mapping, list)) for v in value.values())
    if value and flat:
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in value.items())
        return f"<table>{rows}</table>"
    if isinstance(value, (Mapping, list, tuple)):
        text = json.dumps(value, default=str, ensure_ascii=False)
        text = text if len(text) <= limit else text[:limit] + f" … ({len(text)} characters)"
        return f"<code>{_e(text)}</code>"
    return _e(value)


def _config_table(config: Mapping[str, Any]) -> str:
    if not config:
        return "<p>No configuration was saved with this model.</p>"
    rows = "".join(
        f"<tr><th>{_e(key)}</th><td>{_value_html(value)}</td></tr>"
        for key, value in config.items()
        if key != "history"
    )
    return f"<table>{rows}</table>"


def _history_table(history: Sequence[Mapping[str, Any]]) -> str:
    keys = [
        k
        for k in ("epoch", "time", "loss", "accuracy", "val_loss", "val_accuracy")
        if any(row.get(k) is not None for row in history)
    ]

    def cell(key: str, value: Any) -> str:
        if value is None:
            return '<td class="num">—</td>'
        if key.endswith("accuracy"):
            return f'<td class="num">{_pct(float(value))}</td>'
        if key == "time":
            return f'<td class="num">{float(value):.{2 if float(value) < 10 else 1}f} s</td>'
        if isinstance(value, float):
            return f'<td class="num">{value:.4f}</td>'
        return f'<td class="num">{_e(value)}</td>'

    head = "".join(f"<th>{_e(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(cell(k, row.get(k)) for k in keys) + "</tr>" for row in history)
    return f"<table><tr>{head}</tr>{body}</table>"


def _per_class_table(cm: np.ndarray, precision: np.ndarray, recall: np.ndarray, f1: np.ndarray) -> str:
    support = cm.sum(axis=1)
    rows = [
        f'<tr><td>{i}</td><td class="num">{support[i]}</td><td class="num">{cm[:, i].sum()}</td>'
        f'<td class="num">{_pct(precision[i])}</td><td class="num">{_pct(recall[i])}</td>'
        f'<td class="num">{_pct(f1[i])}</td></tr>'
        for i in range(len(cm))
    ]
    rows.append(
        f'<tr class="total"><td>macro average</td><td class="num">{support.sum()}</td>'
        f'<td class="num">{cm.sum()}</td><td class="num">{_pct(float(np.nanmean(precision)))}</td>'
        f'<td class="num">{_pct(float(np.nanmean(recall)))}</td>'
        f'<td class="num">{_pct(float(np.nanmean(f1)))}</td></tr>'
    )
    names = ("digit", "test images", "predicted", "precision", "recall", "F1")
    head = "<tr>" + "".join(f"<th>{name}</th>" for name in names) + "</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _card(label: str, value: str) -> str:
    return f'<div class="card"><div class="v">{_e(value)}</div><div class="k">{_e(label)}</div></div>'


def _figure_html(path: Path) -> str:
    title, caption = FIGURES[path.name]
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure id="fig-{_e(path.stem)}"><h3>{_e(title)}</h3>'
        f'<img src="data:image/png;base64,{data}" alt="{_e(title)}">'
        f"<figcaption>{_e(caption)} (<code>{_e(path.name)}</code>)</figcaption></figure>"
    )


def _model_config(model: Any) -> dict[str, Any]:
    """The model's hyperparameters (``training_config()`` or ``config()``) merged with its ``metadata``."""
    config: dict[str, Any] = {}
    for name in ("training_config", "config"):
        if callable(getattr(model, name, None)):
            config.update(getattr(model, name)())
            break
    config.update(getattr(model, "metadata", None) or {})
    return config


class ProbabilisticModel(Protocol):
    """What :func:`write_report` needs of a model: class probabilities and first-layer weights
    (a :class:`~nnscratch.network.Network` is one).
    ``history``, ``metadata`` and ``training_config()``/``config()`` are used when present."""

    @property
    def params(self) -> Mapping[str, np.ndarray]: ...

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


@dataclass
class _Evaluation:
    """What the report shows about a model on a test set."""

    proba: np.ndarray  # (n, n_classes) float64
    y_true: np.ndarray
    y_pred: np.ndarray
    confidence: np.ndarray  # the probability given to the predicted class
    cm: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    accuracy: float
    ece: float
    log_loss: float


def _evaluate(model: ProbabilisticModel, x: np.ndarray, y_test: np.ndarray, n_bins: int) -> _Evaluation:
    proba = np.asarray(model.predict_proba(x.reshape(len(x), -1)), dtype=np.float64)
    n_classes = proba.shape[1]
    y_true = labels_from(y_test, n_classes)
    if len(y_true) != len(x):
        raise ValueError(f"{len(x)} test images but {len(y_true)} labels")
    y_pred = proba.argmax(axis=1)
    cm = np.asarray(metrics.confusion_matrix(y_true, y_pred, n_classes=n_classes))
    precision, recall, f1 = (np.asarray(a, dtype=np.float64) for a in metrics.precision_recall_f1(cm))
    return _Evaluation(
        proba,
        y_true,
        y_pred,
        proba.max(axis=1),
        cm,
        precision,
        recall,
        f1,
        accuracy=float(metrics.accuracy(y_true, y_pred)),
        ece=metrics.expected_calibration_error(proba, y_true, n_bins)[0],
        log_loss=float(log_loss(proba[np.arange(len(y_true)), y_true], 1e-12).mean()),
    )


def _write_figures(
    model: ProbabilisticModel, x: np.ndarray, ev: _Evaluation, history: list, out: Path, n_bins: int
) -> list[Path]:
    """The PNGs of the report, learning curves first (when there is a history)."""
    written: list[Path] = []
    if history:
        written.append(plots.plot_learning_curves(history, out / "learning_curves.png"))
    written.append(plots.plot_confusion_matrix(ev.cm, out / "confusion_matrix.png"))
    written.append(plots.plot_calibration(ev.proba, ev.y_true, out / "calibration.png", n_bins=n_bins))
    written.append(
        plots.plot_misclassified(x, ev.y_true, ev.y_pred, ev.confidence, out / "misclassified.png")
    )
    written.append(plots.plot_first_layer_weights(model.params["W1"], out / "weights_layer1.png"))
    return written


def _cards(ev: _Evaluation, n_bins: int) -> str:
    wrong = int((ev.y_true != ev.y_pred).sum())
    return "".join(
        [
            _card("test accuracy", _pct(ev.accuracy)),
            _card("test error", _pct(1.0 - ev.accuracy)),
            _card("misclassified", f"{wrong} of {len(ev.y_true)}"),
            _card(f"ECE ({n_bins} bins)", _pct(ev.ece)),
            _card("mean confidence", _pct(float(ev.confidence.mean()))),
            _card("test log-loss", f"{ev.log_loss:.4f}"),
        ]
    )


def write_report(
    model: ProbabilisticModel,
    x_test: np.ndarray,
    y_test: np.ndarray,
    out_dir: str | os.PathLike[str],
    *,
    title: str | None = None,
    n_bins: int = 15,
) -> Path:
    """Evaluate ``model`` on the test set and write the PNGs and ``report.html`` into ``out_dir``.

    ``model`` needs ``predict_proba``, ``params`` (``W1`` is drawn) and ``metadata``; its training
    history is taken from ``model.history`` or ``metadata["history"]``. ``x_test`` is (n, 28, 28) or
    (n, 784) (uint8 or floats in [0, 1]), ``y_test`` integer labels or one-hot rows. Returns the path
    of the HTML page.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x = np.asarray(x_test)
    if len(x) == 0:
        raise ValueError("write_report needs at least one test image")
    ev = _evaluate(model, x, y_test, n_bins)
    history = getattr(model, "history", None) or (getattr(model, "metadata", None) or {}).get("history") or []
    written = _write_figures(model, x, ev, history, out, n_bins)
    sizes = [model.params["W1"].shape[1]] + [
        model.params[f"W{i}"].shape[0] for i in range(1, 100) if f"W{i}" in model.params
    ]
    heading = title or "nnscratch model report"
    when = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    learning = (
        f"{_figure_html(written[0])}{_history_table(history)}"
        if history
        else "<p>No training history was saved with this model.</p>"
    )
    others = "".join(_figure_html(p) for p in written if p.name != "learning_curves.png")
    page = _PAGE.format(
        heading=_e(heading),
        subtitle=(
            f"Network {_e('-'.join(map(str, sizes)))} evaluated on {len(ev.y_true)} test images · {_e(when)}"
        ),
        css=_CSS,
        cards=_cards(ev, n_bins),
        per_class=_per_class_table(ev.cm, ev.precision, ev.recall, ev.f1),
        learning=learning,
        figures=others,
        configuration=_config_table(_model_config(model)),
    )
    path = out / "report.html"
    atomic_write(path, lambda fh: fh.write(page.encode("utf-8")))
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{heading}</title>
<style>{css}</style>
</head>
<body>
<h1>{heading}</h1>
<p class="sub">{subtitle}</p>
<section id="metrics">
<h2>Metrics</h2>
<div class="cards">{cards}</div>
</section>
<section id="per-class">
<h2>Per-class precision, recall and F1</h2>
{per_class}
</section>
<section id="training">
<h2>Training</h2>
{learning}
</section>
<section id="figures">
<h2>Figures</h2>
{figures}
</section>
<section id="configuration">
<h2>Configuration</h2>
{configuration}
</section>
</body>
</html>
"""
