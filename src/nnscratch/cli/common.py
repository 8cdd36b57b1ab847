"""Options and helpers shared by the verbs of the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

#: The help of ``--data-dir``, the same for every verb that loads a dataset.
DATA_DIR_HELP = (
    "directory holding the dataset's four IDX files (gzipped or not); when given it is the only source "
    "tried. Without it: $NNSCRATCH_DATA when set, else the user cache, system copies, then a download"
)


def add_data_dir_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> argparse.Action:
    """Add ``--data-dir DIR`` (``args.data_dir``: a Path, or None) to ``parser``."""
    # "%(default).0s" prints nothing; it stops ArgumentDefaultsHelpFormatter adding "(default: None)".
    return parser.add_argument(
        "--data-dir", metavar="DIR", type=Path, default=None, help=DATA_DIR_HELP + "%(default).0s"
    )
