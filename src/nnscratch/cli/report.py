"""``nnscratch report MODEL --out DIR``: evaluate a model on the MNIST test set and draw the pictures.

Writes the PNGs of :mod:`nnscratch.evaluation.plots` and one self-contained ``report.html``
(images inlined) with the configuration, metrics, per-class precision/recall/F1 and the pictures; see
:func:`nnscratch.evaluation.report.write_report`.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` verb."""
    parser = subparsers.add_parser(
        "report",
        help="evaluate a model on the MNIST test set; write PNG plots and an HTML report",
        description=(
            "Evaluate MODEL on the official MNIST test set and write learning curves, a confusion matrix, "
            "the misclassified digits, the first-layer weights, a calibration curve and report.html."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="model file written by 'nnscratch train' (.npz)")
    parser.add_argument("--out", metavar="DIR", type=Path, required=True, help="folder for the report")
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="folder with the MNIST files (default: the same place 'nnscratch train' uses)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load the model and the test set, write the report, print where it is."""
    from nnscratch import DeepNeuralNetwork
    from nnscratch.data import load_mnist
    from nnscratch.evaluation.report import write_report

    net = DeepNeuralNetwork.load(args.model)
    dataset = load_mnist(args.data_dir)
    html_path = write_report(
        net, dataset.x_test, dataset.y_test, args.out, title=f"nnscratch report: {Path(args.model).name}"
    )
    print(f"report written to {html_path}")
    return 0
