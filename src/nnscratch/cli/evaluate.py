"""``nnscratch evaluate MODEL``: accuracy, per-class precision/recall/F1 and the confusion matrix on the
official test set of the dataset the model was trained on (``--json`` for one JSON document).

MODEL is a model file or a checkpoint directory (its ``last.npz``).
"""

from __future__ import annotations

import json
import sys

import numpy as np

from nnscratch.cli import common
from nnscratch.evaluation.metrics import (
    classification_report,
    confusion_matrix,
    format_confusion_matrix,
    precision_recall_f1,
)


def register(subparsers) -> None:
    """Add the ``evaluate`` verb."""
    p = common.add_verb(
        subparsers,
        "evaluate",
        "test accuracy, per-class precision/recall, confusion matrix",
        "Evaluate MODEL on the official test set of the dataset it was trained on: accuracy, per-class "
        "precision/recall/F1 and the confusion matrix.",
    )
    common.model_argument(p)
    common.add_data_args(p, dataset_default=None, dataset_help="test on this dataset [the model's own]")
    p.add_argument("--json", action="store_true", help="print the results as one JSON document")
    p.set_defaults(handler=run_evaluate)


def model_dataset(net, typed: str | None) -> str:
    """The dataset to test ``net`` on: the one typed, else the one it was trained on (MNIST if unknown);
    a typed dataset other than the model's own is honoured, with a warning."""
    own = net.metadata.get("dataset")
    if typed is not None and own is not None and typed != own:
        print(
            f"nnscratch: warning: the model was trained on {own}; testing it on {typed} as asked",
            file=sys.stderr,
        )
    return typed or own or "mnist"


def load_test_set(net, args, what: str = "images"):
    """The dataset for ``net`` (see :func:`model_dataset`), its input width checked against the model."""
    ds = common.load_data(model_dataset(net, args.dataset), args.data_dir)
    if (net.metadata.get("split") or {}).get("split") == "tutorial" and ds.name == net.metadata.get(
        "dataset"
    ):
        print("nnscratch: warning: the model was trained with --split tutorial, which trains on part of the "
              "official test set: this test accuracy is optimistic", file=sys.stderr)  # fmt: skip
    if net.sizes[0] != ds.x_test[0].size:
        raise common.UsageError(
            f"{args.model} expects {net.sizes[0]} inputs but {ds.name} {what} have {ds.x_test[0].size} pixels"
        )
    return ds


def run_evaluate(args) -> int:
    """Print the evaluation of ``args.model`` (tables, or JSON with ``--json``)."""
    net = common.load_model(args.model)
    ds = load_test_set(net, args)
    pred = net.predict(ds.x_test)
    n_classes = net.sizes[-1]
    cm = confusion_matrix(ds.y_test, pred, n_classes)
    accuracy = float(np.trace(cm) / cm.sum())
    if args.json:
        precision, recall, f1 = precision_recall_f1(cm)
        document = {
            "model": str(args.model),
            "dataset": ds.name,
            "classes": list(common.class_names(ds.name) or ()),
            "n": int(cm.sum()),
            "accuracy": accuracy,
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "confusion_matrix": cm.tolist(),
        }
        print(json.dumps(document, indent=2))
        return 0
    word = common.class_word(ds.name)
    print(f"{args.model}: {'-'.join(map(str, net.sizes))} {net.activation.name} network")
    correct = int(np.trace(cm))
    print(f"Test accuracy on the official {ds.name} test set: {100 * accuracy:.2f}% ({correct}/{cm.sum()})")
    print()
    print(classification_report(ds.y_test, pred, n_classes))
    print()
    print(f"Confusion matrix (rows: true {word}, columns: predicted {word})")
    print(format_confusion_matrix(cm))
    return 0
