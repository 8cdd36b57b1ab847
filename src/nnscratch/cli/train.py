"""``nnscratch train``: train a network, test it, save it.

With no options it is the tutorial's run: 784-128-64-10, sigmoid, softmax + cross-entropy, SGD one image
at a time, 10 epochs, 15 % of the training images held out for validation (seed 42), then the accuracy
on the official 10,000-image test set; the model goes to ``model.npz`` (``--save``, ``--no-save``).
Ctrl-C stops cleanly and says what was kept; ``--resume`` continues a checkpointed run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from nnscratch.cli import common
from nnscratch.cli._resume import SPLIT_DEFAULTS, kept, resume
from nnscratch.cli.common import UsageError
from nnscratch.training.presets import DATASET_PRESETS, PRESETS, build_network

SPLITS = ("official", "tutorial")
#: Options whose default comes from the preset; absent from ``args`` unless typed.
PRESET_OPTIONS = (
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
DESCRIPTION = (
    "Train a network. With no options: the tutorial's network 784-128-64-10 (sigmoid, softmax + "
    "cross-entropy, SGD one image at a time, 10 epochs) on MNIST, 15% of the training images held out "
    "for validation (seed 42), then the accuracy on the official 10,000-image test set; the model is "
    f"saved to {common.DEFAULT_MODEL}. Options left out take the preset's value, shown in brackets."
)


# ---------------------------------------------------------------------------- options


def register(subparsers) -> None:
    """Add the ``train`` verb."""
    p = common.add_verb(subparsers, "train", "train a network (the tutorial's run by default)", DESCRIPTION)
    p.add_argument("--preset", choices=sorted(PRESETS), help="a named recipe [tutorial]")
    _add_preset_options(p)
    _data_options(p.add_argument_group("data"))
    _output_options(p.add_argument_group("output"))
    p.set_defaults(handler=run_train)


def _preset_help(text: str, key: str) -> str:
    """Help text ending with the value each preset gives ``key``."""
    values = ", ".join(
        f"{name}: {_show(o.get(key), key)}" for name, o in sorted(PRESETS.items(), reverse=True)
    )
    values += "".join(
        f"; {name} on {dataset}: {_show(recipe.get(key), key)}"
        for dataset, variants in sorted(DATASET_PRESETS.items())
        for name, recipe in sorted(variants.items())
        if _show(recipe.get(key), key) != _show(PRESETS[name].get(key), key)
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


def _preset_options() -> dict[str, list[tuple[tuple[str, ...], dict, str]]]:
    """The options whose default is the preset's: group -> [(flags, argparse keywords, help)].
    A help text that names a preset key gets each preset's value appended."""
    from nnscratch.activations import ACTIVATIONS
    from nnscratch.losses import LOSSES
    from nnscratch.network import INITS
    from nnscratch.training.optimizers import OPTIMIZER_CHOICES, SCHEDULES
    from nnscratch.training.trainer import MONITORS

    c = common
    return {
        "network": [
            (("--sizes",), {"type": c.layer_sizes}, "layer widths, input first"),
            (("--activation",), {"choices": sorted(ACTIVATIONS)}, "hidden-layer activation"),
            (("--loss",), {"choices": sorted(LOSSES)}, "loss on the softmax output"),
            (("--init",), {"choices": INITS}, "weight initialisation"),
            (
                ("--no-bias",),
                {"dest": "bias", "action": "store_false"},
                "no bias terms, like the notebook's network",
            ),
        ],
        "optimisation": [
            (
                ("--epochs",),
                {"type": c.nonnegative_int},
                "number of epochs (with --resume: train on to this many)",
            ),
            (
                ("--lr", "--l-rate"),
                {"dest": "l_rate", "metavar": "LR", "type": c.positive_float},
                "(starting) learning rate",
            ),
            (("--batch-size",), {"type": c.positive_int}, "1 = one image at a time, the tutorial's SGD"),
            (("--optimizer",), {"choices": OPTIMIZER_CHOICES}, "optimizer"),
            (("--schedule",), {"choices": sorted(SCHEDULES)}, "learning-rate schedule"),
            (
                ("--warmup",),
                {"type": c.nonnegative_float, "metavar": "EPOCHS"},
                "warm-up epochs of the cosine schedule [off]",
            ),
            (("--l2",), {"type": c.nonnegative_float}, "L2 weight decay"),
            (("--dropout",), {"type": c.dropout_rate}, "dropout rate of hidden layers"),
            (
                ("--augment",),
                {"action": argparse.BooleanOptionalAction},
                "random shifts, rotations and scaling of training images",
            ),
            (
                ("--early-stopping",),
                {"type": c.nonnegative_int, "metavar": "PATIENCE"},
                "stop after PATIENCE epochs without improvement of --monitor and keep the best weights",
            ),
            (("--monitor",), {"choices": MONITORS}, "what early stopping watches [val_loss]"),
            (
                ("--seed",),
                {"type": c.nonnegative_int},
                "seed of initialisation, shuffling, dropout and augmentation",
            ),
        ],
    }


def _add_preset_options(parser) -> None:
    for title, options in _preset_options().items():
        group = parser.add_argument_group(title)
        for flags, kwargs, text in options:
            key = kwargs.get("dest", flags[0][2:].replace("-", "_"))
            shown = text if "[" in text or key == "bias" else _preset_help(text, key)
            group.add_argument(*flags, default=argparse.SUPPRESS, help=shown, **kwargs)


def _data_options(group) -> None:
    common.add_data_args(group, dataset_default=None, dataset_help="which dataset [mnist]")
    group.add_argument(
        "--split",
        choices=SPLITS,
        help="official: validate on part of the 60,000 training images and test on the official 10,000; "
        "tutorial: shuffle all 70,000 and hold out part, as the notebook did (no separate test set) "
        "[official]",
    )
    group.add_argument(
        "--val-fraction", type=common.fraction, metavar="F", help="fraction held out for validation [0.15]"
    )
    group.add_argument(
        "--split-seed", type=common.nonnegative_int, metavar="N", help="random_state of the split [42]"
    )


def _output_options(group) -> None:
    group.add_argument(
        "--save",
        type=Path,
        metavar="MODEL.npz",
        help=f"write the trained model here [{common.DEFAULT_MODEL}, replaced if it exists; "
        "a file named here is never replaced without --force]",
    )
    group.add_argument("--no-save", action="store_true", help="do not write a model file")
    group.add_argument(
        "--force",
        action="store_true",
        help="replace an existing --save file, or start over in a --checkpoint-dir that holds another run",
    )
    group.add_argument(
        "--checkpoint-dir",
        type=Path,
        metavar="DIR",
        help="write DIR/last.npz (and best.npz) after every epoch, for --resume",
    )
    group.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the run checkpointed in DIR (or in a checkpoint file DIR/last.npz)",
    )
    group.add_argument(
        "--log-format",
        choices=("cli", "tutorial"),
        default="cli",
        help="cli: 'Epoch 3/10 · 1.05 s · loss … · val_loss … · val_acc … %%'; "
        "tutorial: the notebook's 'Epoch: 3, Time Spent: …, Loss: …, Accuracy: …%%'",
    )
    group.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar (there is none anyway when stderr is not a terminal)",
    )


# ---------------------------------------------------------------------------- the run


def run_train(args) -> int:
    """Build (or resume) the network, check where it will write, train, test, save."""
    _warn_about_values(args)
    net, checkpoint_dir = (
        resume(args, sorted(set(_options(args)) - {"epochs"}))
        if args.resume is not None
        else (_build(args), args.checkpoint_dir)
    )
    save = _check_outputs(args, checkpoint_dir)
    ds = common.load_data(args.dataset, args.data_dir)
    x_tr, y_tr, x_val, y_val, x_test, y_test = split_data(ds, args.split, args.val_fraction, args.split_seed)
    if net.sizes[0] != x_tr[0].size:
        raise UsageError(
            f"--sizes: the network's input width is {net.sizes[0]} but the images have {x_tr[0].size} pixels"
        )
    _record_run(net, ds, args)
    print(
        f"{ds.name}: {len(x_tr)} training, {len(x_val)} validation images from {ds.source}"
        f"{' (verified)' if ds.verified else ''}"
    )
    print(
        f"network {'-'.join(map(str, net.sizes))}, {net.activation.name}, {net.loss.name}, "
        f"{net.optimizer!r}, batch size {net.batch_size}, {net.epochs} epoch{'s' if net.epochs != 1 else ''}"
    )
    if not _fit(net, args, (x_tr, y_tr, x_val, y_val), checkpoint_dir):
        return 130
    _test(net, args, ds.name, x_test, y_test)
    if save is not None:
        replaced = save.exists()
        net.save(save)
        print(f"model saved to {save}{' (replacing the previous file)' if replaced else ''}")
    return 0


def _options(args) -> dict:
    return {k: getattr(args, k) for k in PRESET_OPTIONS if hasattr(args, k)}


def _build(args):
    for key, default in SPLIT_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, default)
    try:
        return build_network(args.preset or "tutorial", args.dataset, **_options(args))
    except ValueError as exc:
        raise UsageError(common.with_flags(str(exc))) from exc


def _warn_about_values(args) -> None:
    def warn(text: str) -> None:
        print(f"nnscratch: warning: {text}", file=sys.stderr)

    if getattr(args, "epochs", None) == 0 and args.resume is None:
        warn("--epochs 0 trains nothing: the network is tested as initialised")
    lr = getattr(args, "l_rate", None)
    if lr is None:
        return
    optimizer = getattr(args, "optimizer", PRESETS[args.preset or "tutorial"]["optimizer"])
    high = 0.1 if optimizer.startswith("adam") else 10.0
    if lr > high:
        warn(
            f"--lr {lr:g} is far above what {optimizer} trains with (at most about {high:g}); "
            "expect the loss to diverge or the accuracy to stall"
        )
    elif lr < 1e-6:
        warn(f"--lr {lr:g} is so small that the weights will barely move")


def _check_outputs(args, checkpoint_dir: Path | None) -> Path | None:
    """Check, before any training, that the model and the checkpoints can be written; return the
    model's path (None with --no-save)."""
    if checkpoint_dir is not None:
        if checkpoint_dir.exists() and not checkpoint_dir.is_dir():
            raise UsageError(f"--checkpoint-dir {checkpoint_dir} is a file, not a folder")
        common.check_writable_dir(checkpoint_dir, "--checkpoint-dir")
        other = args.resume is None and (checkpoint_dir / "last.npz").exists()
        if other and not args.force:
            raise UsageError(
                f"--checkpoint-dir {checkpoint_dir} holds another run's checkpoint: continue it with "
                f"--resume {checkpoint_dir}, or pass --force to start a new run over it"
            )
    if args.no_save:
        if args.save is not None:
            raise UsageError("--save and --no-save contradict each other")
        return None
    if args.save is None:
        common.check_output_file(common.DEFAULT_MODEL, "--save", force=True)
        if common.DEFAULT_MODEL.exists():
            print(f"(the model will replace {common.DEFAULT_MODEL}; --save FILE keeps it)", file=sys.stderr)
        return common.DEFAULT_MODEL
    common.check_output_file(args.save, "--save", force=args.force)
    return args.save


def split_data(ds, split: str, val_fraction: float, seed: int):
    """(x_train, y_train, x_val, y_val, x_test, y_test) as uint8 images, per ``split``; the tutorial
    split has no separate test set, so its "test" arrays are the validation ones."""
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


def _record_run(net, ds, args) -> None:
    net.metadata.update(
        {
            "dataset": ds.name,
            "dataset_source": ds.source,
            "dataset_checksums": ds.checksums,
            "split": {"split": args.split, "val_fraction": args.val_fraction, "seed": args.split_seed},
            "preset": net.metadata.get("preset", args.preset) if args.resume else (args.preset or "tutorial"),
        }
    )


def _callbacks(args) -> list:
    from nnscratch.training.callbacks import EpochLogger, ProgressBar

    if args.progress and sys.stderr.isatty():
        try:
            return [ProgressBar(style=args.log_format)]
        except ImportError:
            common.say_no_progress_bar()
    return [EpochLogger(style=args.log_format)]


def _fit(net, args, data: tuple, checkpoint_dir: Path | None) -> bool:
    """Train (or resume); on Ctrl-C close the progress bar, say what was kept and return False."""
    callbacks = _callbacks(args)
    try:
        if args.resume is not None:
            done, until = len(net.history), args.resume_until
            note = " (nothing left to train)" if done >= until else ""
            print(f"resuming after epoch {done} of {until} from {args.resume}{note}")
            net.continue_training(*data, callbacks=callbacks, checkpoint_dir=checkpoint_dir, until=until)
        else:
            net.train(*data, callbacks=callbacks, checkpoint_dir=checkpoint_dir)
    except KeyboardInterrupt:
        for cb in callbacks:
            cb.close()
        print(f"nnscratch: interrupted; {kept(checkpoint_dir, args)}", file=sys.stderr, flush=True)
        return False
    return True


def _test(net, args, dataset: str, x_test, y_test) -> None:
    accuracy = net.compute_accuracy(x_test, y_test)
    if args.split == "tutorial":
        net.metadata["validation_accuracy"] = accuracy
        print(
            f"Validation accuracy on the held-out {100 * args.val_fraction:g}% of all {dataset} images "
            f"({len(y_test)} images; the tutorial split has no separate test set): {100 * accuracy:.2f}%"
        )
    else:
        net.metadata["test_accuracy"] = accuracy
        print(
            f"Test accuracy on the official {dataset} test set ({len(y_test)} images): {100 * accuracy:.2f}%"
        )
