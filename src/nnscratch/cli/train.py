"""``nnscratch train`` and ``nnscratch evaluate``.

``nnscratch train`` with no options is the tutorial's run: 784-128-64-10, sigmoid, softmax +
cross-entropy, SGD one image at a time, 10 epochs, 15 % of the training images held out for
validation with seed 42, then the accuracy on the official 10,000-image test set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from nnscratch.errors import NNScratchError
from nnscratch.evaluation.metrics import classification_report, confusion_matrix, format_confusion_matrix
from nnscratch.training.presets import PRESETS, build_network

SPLITS = ("official", "tutorial")
TRAIN_DESCRIPTION = (
    "Train a network on MNIST. With no options: the tutorial's network 784-128-64-10 (sigmoid, softmax + "
    "cross-entropy, SGD one image at a time, 10 epochs), 15% of the training images held out for validation "
    "(seed 42), then the accuracy on the official 10,000-image test set. Options left out take the preset's "
    "value, shown in brackets."
)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.replace("-", ",").split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"sizes must be whole numbers like 784,128,64,10, got {text!r}"
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"sizes needs at least an input and an output width >= 1, got {text!r}"
        )
    return sizes


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _preset_help(text: str, key: str) -> str:
    """Help text ending with the value each preset gives ``key`` (these options default to the preset)."""
    values = ", ".join(
        f"{name}: {_show(opts.get(key), key)}" for name, opts in sorted(PRESETS.items(), reverse=True)
    )
    return f"{text} [{values}]"


def _show(value, key: str = "") -> str:
    if key == "seed":
        return str(value)
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return "on"
    return "off" if value in (None, False, 0) else str(value)


def register(subparsers) -> None:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    p = subparsers.add_parser(
        "train",
        help="train a network on MNIST (the tutorial's run by default)",
        formatter_class=fmt,
        description=TRAIN_DESCRIPTION,
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="tutorial", help="a named recipe")
    add = argparse.SUPPRESS  # preset-driven options: absent unless given
    net = p.add_argument_group("network")
    net.add_argument(
        "--sizes", type=_sizes, default=add, help=_preset_help("layer widths, input first", "sizes")
    )
    net.add_argument(
        "--activation",
        choices=["sigmoid", "tanh", "relu", "leaky_relu"],
        default=add,
        help=_preset_help("hidden-layer activation", "activation"),
    )
    net.add_argument(
        "--loss",
        choices=["cross_entropy", "sum_of_squares"],
        default=add,
        help=_preset_help("loss on the softmax output", "loss"),
    )
    net.add_argument(
        "--init",
        choices=["tutorial", "xavier", "he"],
        default=add,
        help=_preset_help("weight initialisation", "init"),
    )
    net.add_argument(
        "--no-bias",
        dest="bias",
        action="store_false",
        default=add,
        help="no bias terms, like the tutorial notebook's network",
    )
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int, default=add, help=_preset_help("number of epochs", "epochs"))
    opt.add_argument(
        "--lr",
        "--l-rate",
        dest="l_rate",
        type=float,
        default=add,
        help=_preset_help("(starting) learning rate", "l_rate"),
    )
    opt.add_argument(
        "--batch-size",
        type=int,
        default=add,
        help=_preset_help("1 = one image at a time, the tutorial's SGD", "batch_size"),
    )
    opt.add_argument(
        "--optimizer",
        choices=["sgd", "momentum", "nesterov", "adam", "adamw"],
        default=add,
        help=_preset_help("optimizer", "optimizer"),
    )
    opt.add_argument(
        "--schedule",
        choices=["constant", "step", "exponential", "cosine"],
        default=add,
        help=_preset_help("learning-rate schedule", "schedule"),
    )
    opt.add_argument("--warmup", type=float, default=add, help="warm-up epochs of the cosine schedule [off]")
    opt.add_argument("--l2", type=float, default=add, help=_preset_help("L2 weight decay", "l2"))
    opt.add_argument(
        "--dropout", type=float, default=add, help=_preset_help("dropout rate of hidden layers", "dropout")
    )
    opt.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=add,
        help=_preset_help("random shifts, rotations and scaling of training digits", "augment"),
    )
    opt.add_argument(
        "--early-stopping",
        type=int,
        metavar="PATIENCE",
        default=add,
        help=_preset_help(
            "stop after PATIENCE epochs without improvement of --monitor and keep the best weights",
            "early_stopping",
        ),
    )
    opt.add_argument(
        "--monitor",
        choices=["val_loss", "val_accuracy"],
        default=add,
        help="what early stopping watches [val_loss]",
    )
    opt.add_argument(
        "--seed",
        type=int,
        default=add,
        help=_preset_help("seed of initialisation, shuffling, dropout and augmentation", "seed"),
    )
    data = p.add_argument_group("data")
    _add_data_args(data)
    data.add_argument(
        "--split",
        choices=SPLITS,
        default="official",
        help="official: validate on 15%% of the 60,000 training images and test on the official "
        "10,000; tutorial: shuffle all 70,000 and hold out 15%%, as the notebook did",
    )
    data.add_argument("--val-fraction", type=_fraction, default=0.15, help="fraction held out for validation")
    data.add_argument("--split-seed", type=int, default=42, help="random_state of the split")
    out = p.add_argument_group("output")
    out.add_argument("--save", type=Path, metavar="MODEL.npz", help="write the trained model here")
    out.add_argument("--checkpoint-dir", type=Path, help="write last.npz/best.npz after every epoch")
    out.add_argument("--resume", type=Path, metavar="DIR", help="continue the run checkpointed in DIR")
    out.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(handler=run_train)

    e = subparsers.add_parser(
        "evaluate", help="test accuracy, per-class precision/recall, confusion matrix", formatter_class=fmt
    )
    e.add_argument("model", type=Path, help="a model file written by `nnscratch train --save`")
    _add_data_args(e)
    e.add_argument("--json", action="store_true", help="print the results as JSON")
    e.set_defaults(handler=run_evaluate)


def _add_data_args(group) -> None:
    group.add_argument(
        "--data-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="directory with the four IDX files [without it: $NNSCRATCH_DATA, the user cache, "
        "then a download]",
    )
    group.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"], help="which digits")


def _load(args):
    from nnscratch.data import load_dataset

    return load_dataset(args.dataset, getattr(args, "data_dir", None))


def split_data(ds, split: str, val_fraction: float, seed: int):
    """(x_train, y_train, x_val, y_val, x_test, y_test) as uint8 images, per ``split``."""
    from nnscratch.data import train_test_split

    if split == "tutorial":  # the notebook: all 70,000 images shuffled, 85/15
        x = np.concatenate([ds.x_train, ds.x_test])
        y = np.concatenate([ds.y_train, ds.y_test])
        x_tr, x_val, y_tr, y_val = train_test_split(x, y, test_size=val_fraction, random_state=seed)
        return x_tr, y_tr, x_val, y_val, x_val, y_val
    x_tr, x_val, y_tr, y_val = train_test_split(
        ds.x_train, ds.y_train, test_size=val_fraction, random_state=seed
    )
    return x_tr, y_tr, x_val, y_val, ds.x_test, ds.y_test


def _options(args) -> dict:
    names = (
        "sizes",
        "activation",
        "loss",
        "init",
        "bias",
        "epochs",
        "l_rate",
        "batch_size",
        "optimizer",
        "schedule",
        "warmup",
        "l2",
        "dropout",
        "augment",
        "early_stopping",
        "monitor",
        "seed",
    )
    return {k: getattr(args, k) for k in names if hasattr(args, k)}


def run_train(args) -> int:
    from nnscratch import DeepNeuralNetwork
    if args.resume is not None:
        net = DeepNeuralNetwork.load(args.resume / "last.npz")
        split = net.metadata.get("split", {})
        args.split = split.get("split", args.split)
        args.val_fraction = split.get("val_fraction", args.val_fraction)
        args.split_seed = split.get("seed", args.split_seed)
        args.dataset = net.metadata.get("dataset", args.dataset)
        args.checkpoint_dir = args.checkpoint_dir or args.resume
    else:
        try:
            net = build_network(args.preset, **_options(args))
        except ValueError as exc:
            raise NNScratchError(str(exc)) from exc
    ds = _load(args)
    x_tr, y_tr, x_val, y_val, x_test, y_test = split_data(ds, args.split, args.val_fraction, args.split_seed)
    if net.sizes[0] != x_tr[0].size:
        raise NNScratchError(
            f"the network's input width is {net.sizes[0]} but the images have {x_tr[0].size} pixels"
        )
    net.metadata.update(
        {
            "dataset": ds.name,
            "dataset_source": ds.source,
            "dataset_checksums": ds.checksums,
            "split": {"split": args.split, "val_fraction": args.val_fraction, "seed": args.split_seed},
            "preset": net.metadata.get("preset", args.preset) if args.resume else args.preset,
        }
    )
    print(
        f"{ds.name}: {len(x_tr)} training, {len(x_val)} validation images from {ds.source}"
        f"{' (verified)' if ds.verified else ''}"
    )
    print(
        f"network {'-'.join(map(str, net.sizes))}, {net.activation.name}, {net.loss.name}, "
        f"{net.optimizer!r}, batch size {net.batch_size}, {net.epochs} epochs"
    )
    callbacks = _callbacks(args.progress)
    if args.resume is not None:
        target = net.metadata.get("target_epochs")
        print(f"resuming after epoch {len(net.history)} of {target} from {args.resume}")
        net.continue_training(
            x_tr, y_tr, x_val, y_val, callbacks=callbacks, checkpoint_dir=args.checkpoint_dir
        )
    else:
        net.train(x_tr, y_tr, x_val, y_val, callbacks=callbacks, checkpoint_dir=args.checkpoint_dir)
    label = "held-out 15% (tutorial split)" if args.split == "tutorial" else f"official {ds.name} test set"
    accuracy = net.compute_accuracy(x_test, y_test)
    net.metadata["test_accuracy"] = accuracy
    print(f"Test accuracy on the {label} ({len(y_test)} images): {100 * accuracy:.2f}%")
    if args.save is not None:
        net.save(args.save)
        print(f"model saved to {args.save}")
    return 0


def _callbacks(progress: bool) -> list:
    from nnscratch.training.callbacks import EpochLogger, ProgressBar

    if progress:
        try:
            return [ProgressBar()]
        except ImportError:
            print("(install tqdm, `pip install nnscratch[cli]`, for a progress bar)", file=sys.stderr)
    return [EpochLogger()]


def run_evaluate(args) -> int:
    from nnscratch import DeepNeuralNetwork
    net = DeepNeuralNetwork.load(args.model)
    args.dataset = net.metadata.get("dataset", args.dataset)
    ds = _load(args)
    if net.sizes[0] != ds.x_test[0].size:
        raise NNScratchError(
            f"{args.model} expects {net.sizes[0]} inputs but {ds.name} images have {ds.x_test[0].size} pixels"
        )
    pred = net.predict(ds.x_test)
    n_classes = net.sizes[-1]
    cm = confusion_matrix(ds.y_test, pred, n_classes)
    accuracy = float(np.trace(cm) / cm.sum())
    if args.json:
        from nnscratch.evaluation.metrics import precision_recall_f1

        precision, recall, f1 = precision_recall_f1(cm)
        print(
            json.dumps(
                {
                    "model": str(args.model),
                    "dataset": ds.name,
                    "n": int(cm.sum()),
                    "accuracy": accuracy,
                    "precision": precision.tolist(),
                    "recall": recall.tolist(),
                    "f1": f1.tolist(),
                    "confusion_matrix": cm.tolist(),
                },
                indent=2,
            )
        )
        return 0
    print(f"{args.model}: {'-'.join(map(str, net.sizes))} {net.activation.name} network")
    correct = int(np.trace(cm))
    print(f"Test accuracy on the official {ds.name} test set: {100 * accuracy:.2f}% ({correct}/{cm.sum()})")
    print()
    print(classification_report(ds.y_test, pred, n_classes))
    print()
    print("Confusion matrix (rows: true digit, columns: predicted digit)")
    print(format_confusion_matrix(cm))
    return 0
