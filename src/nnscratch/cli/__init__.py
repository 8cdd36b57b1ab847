"""The ``nnscratch`` command line: ``main(argv=None) -> int``.

Each verb lives in its own module of this package and exposes ``register(subparsers)``, which adds
its sub-parser and sets ``handler`` (a function ``(args) -> int``) as its default; options and helpers
the verbs share are in :mod:`nnscratch.cli.common`. Errors a user can cause are one line
(``nnscratch: error: ...``): exit code 1 for a failure, 2 for a bad option. Output cut short by a
closed pipe (``nnscratch evaluate --json | head -3``) ends quietly, like ``ls | head``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from nnscratch.cli.common import ArgumentParser, UsageError, configure_logging, set_typed_argv
from nnscratch.errors import DataError, NNScratchError

#: Modules of this package that define verbs, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "train",
    "evaluate",
    "predict",
    "finetune",
    "report",
    "data",
    "sweep",
    "gradcheck",
    "serve",
)


def build_parser() -> ArgumentParser:
    """The full argument parser, with one sub-parser per verb."""
    from nnscratch._version import __version__

    parser = ArgumentParser(
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
    argv = list(sys.argv[1:] if argv is None else argv)
    set_typed_argv(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    configure_logging()
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handler below
        return code
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except NNScratchError as exc:
        # One line; a DataError that lists the sources it tried keeps its one line per source.
        message = str(exc).strip() if isinstance(exc, DataError) else " ".join(str(exc).split())
        print(f"nnscratch: error: {message}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except KeyboardInterrupt:
        print("nnscratch: interrupted", file=sys.stderr)
        return 130
    finally:
        _forget_interrupt()  # also after a Ctrl-C that train, sweep or serve handled themselves


def _forget_interrupt() -> None:
    """A Ctrl-C that was handled must not kill the process at exit. CPython (seen with 3.11) marks a
    KeyboardInterrupt as unhandled whenever it leaves an ``eval``/``exec`` of a string on its way to a
    handler (NumPy's and SciPy's imports run such code), and ``python -m nnscratch`` then kills itself
    with SIGINT at exit instead of exiting 130. Every ``eval`` of a string clears that mark first
    (``run_eval_code_obj`` in CPython's pythonrun.c); tests/test_cli_edges.py plants the case."""
    eval("None")


def _quiet_broken_pipe() -> int:
    """The reader went away (``| head``): point stdout at /dev/null so that Python's final flush
    does not complain, and exit like a program killed by SIGPIPE would be reported (141)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture)
        pass
    finally:
        os.close(devnull)
    return 141
