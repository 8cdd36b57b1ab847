"""``nnscratch finetune MODEL DIR --out NEW.npz``: teach a model your handwriting.

DIR holds your digit pictures as ``DIR/<digit>/<files>`` (PNG, JPEG, ...; drawings or photos, any
size), read with the same preprocessing as ``nnscratch predict``. A copy of MODEL is fine-tuned on them
mixed with replayed MNIST training digits (so it does not forget MNIST), part of your digits is held
out to show accuracy on them before and after, and MNIST test accuracy is measured before and after.
If MNIST test accuracy would drop by more than ``--max-drop`` points nothing is written and the exit
code is 1. NEW is written atomically and never over MODEL; its metadata says which file it was
fine-tuned from (name and sha256) and on how many digits per class.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

from nnscratch.cli import common
from nnscratch.errors import NNScratchError
from nnscratch.training.finetune import AUGMENT, HOLDOUT, LR_BY_ACTIVATION, MAX_DROP, RECIPE

if TYPE_CHECKING:
    from nnscratch.training.trainer import DeepNeuralNetwork

DESCRIPTION = __doc__.split("\n\n", 1)[1].replace("``", "'")


#: ``--holdout``: a share in [0, 1).
_holdout = common.dropout_rate


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``finetune`` verb."""
    p = common.add_verb(
        subparsers,
        "finetune",
        help="teach a model your handwriting (DIR/<digit>/<images>)",
        description=DESCRIPTION,
    )
    common.model_argument(
        p, help="the model to start from: a model file, or a checkpoint directory (its last.npz)"
    )
    p.add_argument("dir", metavar="DIR", type=Path, help="your digits as DIR/<digit>/<images>")
    p.add_argument("--out", metavar="NEW.npz", type=Path, required=True, help="where to write the new model")
    p.add_argument("--force", action="store_true", help="replace NEW.npz if it exists (MODEL never)")
    _add_recipe(
        p.add_argument_group("recipe (the defaults were chosen on generated handwriting, see the README)")
    )
    p.add_argument(
        "--max-drop",
        type=common.nonnegative_float,
        default=MAX_DROP,
        help="refuse to write NEW if MNIST test accuracy drops by more than this many percentage points",
    )
    common.add_data_dir_option(p)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(handler=run)


def _add_recipe(r: argparse._ArgumentGroup) -> None:
    """The recipe's options, with the defaults of :data:`~nnscratch.training.finetune.RECIPE`."""
    r.add_argument(
        "--epochs", type=common.positive_int, default=RECIPE["epochs"], help="passes over your digits"
    )
    r.add_argument(
        "--lr",
        type=common.positive_float,
        default=None,
        help="starting learning rate, decaying along a cosine to 0 [default: by the model's activation: "
        + ", ".join(f"{name} {lr:g}" for name, lr in LR_BY_ACTIVATION.items())
        + "]",
    )
    r.add_argument(
        "--batch-size", type=common.positive_int, default=RECIPE["batch_size"], help="images per step"
    )
    r.add_argument(
        "--replay-ratio",
        type=common.nonnegative_float,
        default=RECIPE["replay_ratio"],
        help="replayed MNIST training digits per digit of yours, in every pass",
    )
    r.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=bool(RECIPE["augment"]),
        help=f"randomly shift (up to {AUGMENT['max_shift']:g} px), rotate (up to {AUGMENT['max_rotation']:g} "
        f"degrees) and scale the copies of your digits; never the replayed MNIST digits [default: "
        f"{'on' if RECIPE['augment'] else 'off'}]",
    )
    r.add_argument(
        "--holdout",
        type=_holdout,
        default=HOLDOUT,
        help="share of your digits held out to measure accuracy on them before/after (0: train on all)",
    )
    r.add_argument(
        "--seed", type=int, default=0, help="seed of the hold-out split, replay, shuffling and augmentation"
    )


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_out(args: argparse.Namespace, model: Path) -> None:
    """Before any work: NEW is never MODEL, and can be written."""
    if _same_file(args.out, model):
        raise common.UsageError(
            f"--out {args.out} is MODEL itself; give a new file name (MODEL is never overwritten)"
        )
    common.check_output_file(args.out, "--out", args.force)


def _load_model(path: Path):
    net = common.load_model(path)
    if net.sizes[0] != 784 or net.sizes[-1] != 10:
        raise NNScratchError(
            f"{path} is a {net.sizes[0]}-input, {net.sizes[-1]}-class network; fine-tuning "
            "needs a digit model with 784 inputs (28x28) and 10 classes"
        )
    dataset = net.metadata.get("dataset", "mnist")
    if dataset != "mnist":
        raise NNScratchError(
            f"{path} was trained on {dataset}, not on MNIST digits; fine-tuning teaches it digits"
        )
    return net


def _progress(args: argparse.Namespace):
    if not args.progress or args.json or not sys.stderr.isatty():
        return None
    try:
        from nnscratch.training.callbacks import FractionBar

        return FractionBar("fine-tuning")
    except ImportError:
        common.say_no_progress_bar()
        return None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _report(args: argparse.Namespace, digits, result) -> None:
    counts = " ".join(f"{d}:{n}" for d, n in digits.counts.items())
    skipped = f", {len(digits.skipped)} file(s) skipped" if digits.skipped else ""
    print(f"read {len(digits.labels)} digits from {args.dir} ({counts}){skipped}")
    print(
        f"fine-tuned on {result.n_trained} of them ({result.n_held_out} held out) mixed with "
        f"{result.n_replayed} replayed MNIST digits, {result.recipe['epochs']} passes, "
        f"in {result.seconds:.1f} s"
    )
    before, after = _pct(result.user_before), _pct(result.user_after)
    print(f"your held-out digits ({result.n_held_out}): {before} -> {after}")
    drop = result.test_drop
    change = "" if drop is None else f" ({-drop:+.2f} points, limit -{result.max_drop:g})"
    print(f"MNIST test accuracy: {_pct(result.test_before)} -> {_pct(result.test_after)}{change}")


def _finetune(args: argparse.Namespace, net, digits, ds):
    """Run the fine-tune with the recipe of the command line, a progress bar on a terminal."""
    from nnscratch.training.finetune import finetune

    recipe = {
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "replay_ratio": args.replay_ratio,
        "augment": AUGMENT if args.augment else None,
    }
    bar = _progress(args)
    try:
        return finetune(
            net,
            digits.images,
            digits.labels,
            replay=(ds.x_train, ds.y_train),
            test=(ds.x_test, ds.y_test),
            holdout=args.holdout,
            seed=args.seed,
            max_drop=args.max_drop,
            progress=bar,
            source=common.resolve_model(args.model),  # the file read: a checkpoint directory's last.npz
            **recipe,
        )
    finally:
        if bar is not None:
            bar.close()


def run(args: argparse.Namespace) -> int:
    """Fine-tune, report, and write NEW only when MNIST accuracy held."""
    from nnscratch.data import load_dataset
    from nnscratch.images.folders import read_labelled_dir

    model = common.resolve_model(args.model)
    _check_out(args, model)
    net = _load_model(args.model)
    digits = read_labelled_dir(args.dir)
    for path, reason in digits.skipped:
        print(f"nnscratch: warning: skipped {path}: {reason}", file=sys.stderr)
    ds = load_dataset("mnist", args.data_dir)
    result = _finetune(args, net, digits, ds)
    if args.json:
        skipped = [[str(p), why] for p, why in digits.skipped]
        figures = {**result.to_dict(), "model": str(args.model), "out": str(args.out), "skipped": skipped}
        print(json.dumps(figures, indent=2))
    else:
        _report(args, digits, result)
    if not result.accepted:
        raise NNScratchError(f"{result.reason}; nothing was written")
    tuned = cast("DeepNeuralNetwork", result.network)  # a copy of what _load_model returned
    tuned.metadata["finetune"]["skipped_files"] = len(digits.skipped)
    tuned.save(args.out)
    if not args.json:
        print(f"saved {args.out} (fine-tuned from {model.name})")
    return 0
