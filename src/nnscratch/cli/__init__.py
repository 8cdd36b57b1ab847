"""The ``nnscratch`` command line: ``main(argv=None) -> int``.

Each verb lives in its own module of this package and exposes ``register(subparsers)``, which adds
its sub-parser and sets ``handler`` (a function ``(args) -> int``) as its default. Errors that a user
can cause are printed as one line (``nnscratch: error: ...``) with exit code 1; bad options exit 2
(argparse's convention).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from nnscratch.errors import NNScratchError

#: Modules of this package that define verbs, in the order ``--help`` lists them.
COMMAND_MODULES = ("train", "predict", "report", "data", "sweep")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with one sub-parser per verb."""
    from nnscratch._version import __version__
    parser = argparse.ArgumentParser(
        prog="nnscratch",
        description="A neural network from scratch in NumPy that learns to read handwritten digits.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"nnscratch.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        return int(args.handler(args) or 0)
    except NNScratchError as exc:
        message = " ".join(str(exc).split())  # one line, even for errors that list several causes
        print(f"nnscratch: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nnscratch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
