"""``nnscratch report MODEL --out DIR``: evaluate a model on the test set of the dataset it was trained
on and draw the pictures.

Writes the PNGs of ``nnscratch.evaluation.plots`` and one self-contained ``report.html`` (images
inlined) with the configuration, metrics, per-class precision/recall/F1 and the pictures; see
``nnscratch.evaluation.report.write_report``. MODEL is a model file or a checkpoint directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nnscratch._optional import require
from nnscratch.cli import common
from nnscratch.cli.evaluate import load_test_set
from nnscratch.errors import NNScratchError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` verb."""
    parser = common.add_verb(
        subparsers,
        "report",
        "evaluate a model on its test set; write PNG plots and an HTML report",
        "Evaluate MODEL on the official test set of the dataset it was trained on and write learning "
        "curves, a confusion matrix, the misclassified images, the first-layer weights, a calibration "
        "curve and report.html.",
    )
    common.model_argument(parser)
    parser.add_argument("--out", metavar="DIR", type=Path, required=True, help="folder for the report")
    common.add_data_args(parser, dataset_default=None, dataset_help="test on this dataset [the model's own]")
    parser.set_defaults(handler=run)


def _require_matplotlib() -> None:
    require("matplotlib", "plots", "report", error=NNScratchError)


def run(args: argparse.Namespace) -> int:
    """Load the model and its test set, write the report, print where it is."""
    _require_matplotlib()
    from nnscratch.evaluation.report import write_report

    common.check_writable_dir(args.out, "--out")
    net = common.load_model(args.model)
    dataset = load_test_set(net, args)
    title = f"nnscratch report: {Path(args.model).name} on {dataset.name}"
    html_path = write_report(net, dataset.x_test, dataset.y_test, args.out, title=title)
    print(f"report written to {html_path}")
    return 0
