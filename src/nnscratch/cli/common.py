"""What the verbs share: the parser and help classes, option validators, ``--data-dir``/``--dataset``,
model paths (a file or a checkpoint directory), output-path checks, logging to stderr.

Choices come from the registries (datasets, activations, losses, optimizers, schedules, presets), never
typed by hand, so a new entry in a registry is a new choice on the command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from nnscratch.errors import ModelFileError, NNScratchError

#: Where ``nnscratch train`` saves its model unless told otherwise (``--save``, ``--no-save``), and
#: so where the README's next commands (``evaluate model.npz``, ``predict model.npz ...``) find it.
DEFAULT_MODEL = Path("model.npz")

#: The argv being parsed, so that an error can name the spelling of a flag the user typed.
_typed: list[str] = []


class UsageError(NNScratchError):
    """A bad combination of options, found after parsing (printed as one line, exit code 2)."""


# ---------------------------------------------------------------------------- parser and help


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``nnscratch: error: --lr must be > 0, got -1`` (exit code 2),
    without the usage block (``--help`` still shows it)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"nnscratch: error: {_name_typed_flag(message)} (see {self.prog} --help)\n")


def _name_typed_flag(message: str) -> str:
    match = re.match(r"argument ((?:-[\w-]+)(?:/-[\w-]+)*): (.*)", message, re.S)
    if not match:
        return message
    spellings, rest = match.group(1).split("/"), match.group(2)
    typed = next((s for s in spellings if any(a == s or a.startswith(s + "=") for a in _typed)), None)
    flag = typed or spellings[0]
    return f"{flag} {rest}" if rest.startswith("must") else f"{flag}: {rest}"


def set_typed_argv(argv: Sequence[str]) -> None:
    """Remember ``argv`` (called by :func:`nnscratch.cli.main` before parsing)."""
    _typed[:] = list(argv)


class HelpFormatter(argparse.HelpFormatter):
    """Shows ``(default: X)`` only where it says something: not for None, not on switches, not on
    required options, not when the help text already states the default (``[...]`` or "default")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.required or action.nargs == 0:
            return text
        empty = any(action.default is v for v in (None, argparse.SUPPRESS, True, False))  # 1 == True
        if empty or "[" in text or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


def add_verb(subparsers, name: str, help: str, description: str | None = None) -> ArgumentParser:
    """A sub-parser with this module's parser and help classes."""
    return subparsers.add_parser(
        name, help=help, description=description or help, formatter_class=HelpFormatter
    )


# ---------------------------------------------------------------------------- validators


def _number(kind, text: str):
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def _checked(kind, test, rule: str):
    def parse(text: str):
        value = _number(kind, text)
        if not test(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


positive_int = _checked(int, lambda v: v >= 1, ">= 1")
nonnegative_int = _checked(int, lambda v: v >= 0, ">= 0")
positive_float = _checked(float, lambda v: 0 < v < float("inf"), "> 0")
nonnegative_float = _checked(float, lambda v: 0 <= v < float("inf"), ">= 0")
fraction = _checked(float, lambda v: 0 < v < 1, "between 0 and 1 (exclusive)")
dropout_rate = _checked(float, lambda v: 0 <= v < 1, "in [0, 1)")


def layer_sizes(text: str) -> list[int]:
    """``784,128,64,10`` (or ``784-128-64-10``) -> [784, 128, 64, 10]."""
    try:
        sizes = [int(part) for part in text.replace("-", ",").split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be whole numbers like 784,128,64,10, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"needs at least an input and an output width >= 1, got {text!r}")
    return sizes


#: DeepNeuralNetwork argument -> the flag a user types, for errors raised below the command line.
FLAGS = {
    "l_rate": "--lr",
    "batch_size": "--batch-size",
    "early_stopping": "--early-stopping",
    "epochs": "--epochs",
    "dropout": "--dropout",
    "l2": "--l2",
    "warmup": "--warmup",
    "sizes": "--sizes",
    "seed": "--seed",
}


def with_flags(message: str) -> str:
    """``l_rate must be > 0`` -> ``--lr must be > 0``: name the option as the user typed it."""
    for name, flag in FLAGS.items():
        message = re.sub(rf"(?<![\w-]){name}(?![\w-])", flag, message)
    return message


# ---------------------------------------------------------------------------- data options


def dataset_name(text: str) -> str:
    """A registered dataset's name (aliases such as ``fashion_mnist`` accepted)."""
    from nnscratch.data.registry import get_spec

    try:
        return get_spec(text).name
    except NNScratchError:
        return text  # argparse then lists the choices


#: The help of ``--data-dir``, the same for every verb that loads a dataset.
DATA_DIR_HELP = (
    "directory holding the dataset's four IDX files (gzipped or not); when given it is the only source "
    "tried. Without it: $NNSCRATCH_DATA when set, else the user cache, system copies, then a download"
)


def add_data_dir_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> argparse.Action:
    """Add ``--data-dir DIR`` (``args.data_dir``: a Path, or None) to ``parser``: the one definition
    every verb that reads a dataset uses."""
    # "%(default).0s" prints nothing; it stops ArgumentDefaultsHelpFormatter adding "(default: None)".
    return parser.add_argument(
        "--data-dir", metavar="DIR", type=Path, default=None, help=DATA_DIR_HELP + "%(default).0s"
    )


def add_data_args(parser, dataset_default: str | None = "mnist", dataset_help: str | None = None) -> None:
    """``--data-dir DIR`` and ``--dataset NAME`` (choices from the dataset registry)."""
    from nnscratch.data.registry import REGISTRY

    add_data_dir_option(parser)
    parser.add_argument(
        "--dataset",
        type=dataset_name,
        choices=sorted(REGISTRY),
        default=dataset_default,
        help=dataset_help or "which dataset",
    )


def load_data(name: str, data_dir: Path | None):
    """The verified dataset ``name`` (from ``data_dir`` when given)."""
    import nnscratch.data

    return nnscratch.data.load_dataset(name, data_dir)


def class_names(dataset: str | None) -> tuple[str, ...] | None:
    """The registry's class names of ``dataset`` (None when unknown)."""
    from nnscratch.data.registry import get_spec

    try:
        return get_spec(dataset).class_names if dataset else None
    except NNScratchError:
        return None


def class_word(dataset: str | None) -> str:
    """``digit`` for MNIST, ``class`` for anything else."""
    names = class_names(dataset)
    return "digit" if names is None or names == tuple(str(d) for d in range(len(names))) else "class"


# ---------------------------------------------------------------------------- models and outputs


def model_argument(
    parser, help: str = "a model file from `nnscratch train`, or a checkpoint directory (its last.npz)"
) -> None:
    parser.add_argument("model", type=Path, metavar="MODEL", help=help)


def resolve_model(path: Path) -> Path:
    """A model file, or ``DIR/last.npz`` for a checkpoint directory ``DIR``."""
    path = Path(path)
    if path.is_dir():
        last = path / "last.npz"
        if not last.is_file():
            raise ModelFileError(f"{path} is a folder without a checkpoint (last.npz) in it")
        return last
    return path


def load_model(path: Path):
    """The :class:`~nnscratch.DeepNeuralNetwork` in ``path`` (a file or a checkpoint directory)."""
    from nnscratch.training.trainer import DeepNeuralNetwork

    resolved = resolve_model(path)
    if resolved != Path(path):
        print(f"using {resolved}", file=sys.stderr)
    return DeepNeuralNetwork.load(resolved)


def _first_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable_dir(directory: Path, flag: str, shown: Path | None = None) -> None:
    """Fail now, not after training, if ``directory`` cannot be created or written: a file is probed
    in its first existing ancestor (permissions, read-only file systems, a path through a file)."""
    existing = _first_existing(directory)
    if not existing.is_dir():
        raise UsageError(f"{flag} {shown or directory}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        what = "cannot be written" if existing == Path(os.path.abspath(directory)) else "cannot be created"
        raise UsageError(
            f"{flag} {shown or directory}: the folder {what} ({exc.strerror} in {existing})"
        ) from None


def check_output_file(path: Path, flag: str, force: bool) -> None:
    """Fail now if a file cannot be written at ``path``, or would replace one without ``--force``."""
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file name such as {path / 'model.npz'}")
    if path.exists() and not force:
        raise UsageError(f"{flag} {path}: the file exists; pass --force to replace it")
    check_writable_dir(path.parent, flag, shown=path)


# ---------------------------------------------------------------------------- logging


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (so redirections and captures work)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


_handler = _StderrHandler()
_handler.setFormatter(logging.Formatter("%(message)s"))


def say_no_progress_bar() -> None:
    """The one line a verb prints when a progress bar was wanted but tqdm is missing."""
    print("(install tqdm, `pip install nnscratch[cli]`, for a progress bar)", file=sys.stderr)


def configure_logging() -> None:
    """nnscratch's messages (downloads, data sources) to stderr, so stdout carries only results;
    libraries' chatter (matplotlib's font cache, ...) kept out."""
    log = logging.getLogger("nnscratch")
    if _handler not in log.handlers:
        log.addHandler(_handler)
    log.setLevel(logging.INFO)
    for noisy in ("matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
