"""``fetch_dataset``: make verified copies of a dataset's four files available (``nnscratch data fetch``).

The files come from the source :func:`~nnscratch.data.load_dataset` would read (the one ``data info``
names: ``$NNSCRATCH_DATA`` when set, else the user cache, else a system copy), else from a download.
Gzipped files are copied byte for byte; uncompressed ones are gzipped (the decompressed bytes are the
source's); decoded cache copies whose original is gone are written out as gzipped IDX files.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import numpy as np

from nnscratch._files import atomic_write
from nnscratch.data import cache as npy_cache
from nnscratch.data.directory import Dataset, SourceError, load_dir, same_dir
from nnscratch.data.download import DownloadError, DownloadOptions, obtain_files
from nnscratch.data.idx import is_gzip, write_idx
from nnscratch.data.loading import ENV_VAR, download_options, failure, find_local
from nnscratch.data.registry import DatasetSpec, FileSpec, cache_dir, get_spec
from nnscratch.errors import DataError

#: How to supply files offline, for fetch_dataset's failure (it has --dir, not --data-dir).
FETCH_HINT = (
    "To work offline, copy the four files into one directory DIR (gzipped or not): {names};\n"
    "check them with `nnscratch data fetch --dir DIR` (dest_dir=DIR in Python), then train with "
    f"--data-dir DIR or set {ENV_VAR}=DIR."
)


def _gzip_copy(src: Path, target: Path) -> None:
    """Write ``target`` as the gzip of ``src``'s bytes (no time stamp: reproducible)."""
    with open(src, "rb") as inp:

        def write(out: BinaryIO) -> None:
            with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
                shutil.copyfileobj(inp, gz)

        atomic_write(target, write)


def _copy_one(src: Path, target: Path, array: np.ndarray) -> str:
    """Write ``target`` (a ``.gz`` path) from ``src``; return how, as a phrase."""
    if src.suffix == ".npy":
        write_idx(target, array)
        return "written as gzipped IDX files from the verified decoded copies"
    if is_gzip(src):
        with open(src, "rb") as inp:
            atomic_write(target, lambda out: shutil.copyfileobj(inp, out))
        return ".gz files copied byte for byte"
    _gzip_copy(src, target)
    return "uncompressed files written gzipped (their decompressed bytes unchanged)"


def _copy_into(ds: Dataset, spec: DatasetSpec, files: list[FileSpec], dest: Path) -> str:
    """Copy ``files`` of ``ds`` into ``dest`` as ``<name>.gz``; return how, as a phrase."""
    dest.mkdir(parents=True, exist_ok=True)
    arrays = dict(zip(spec.files, (ds.x_train, ds.y_train, ds.x_test, ds.y_test), strict=True))
    hows: set[str] = set()
    for role, fspec in spec.files.items():
        if fspec not in files:
            continue
        src = ds.files[fspec.name]
        if src.suffix == ".npy":  # a decoded cache copy: copy its original when that still verifies
            src = npy_cache.verified_source(cache_dir(spec), fspec) or src
        how = _copy_one(src, dest / f"{fspec.name}.gz", arrays[role])
        hows.add(how if same_dir(src.parent, Path(ds.source)) else f"{how} from {src.parent}")
    return "; ".join(sorted(hows))


def fetch_dataset(
    name: str = "mnist", dest_dir: str | os.PathLike | None = None, *, download: bool | DownloadOptions = True
) -> tuple[Path, str]:
    """Make verified copies of a dataset's four files available; return (directory, how).

    Without ``dest_dir`` the user cache is the target, and a verified local source (``$NNSCRATCH_DATA``
    or a system copy) is reported instead of being copied. With ``dest_dir`` the files end up there:
    kept if already verified, else copied from the source ``load_dataset`` would read, else
    downloaded. Never writes the decoded cache.
    """
    spec = get_spec(name)
    dest = Path(dest_dir).expanduser() if dest_dir is not None else cache_dir(spec)
    tried: list[str] = []
    try:
        ds = load_dir(spec, dest, check_all=True, write_cache=False)
        return Path(ds.source), "already present and verified"
    except SourceError as exc:
        tried.append(f"{dest} (the target): {exc}")
        bad = exc.bad or list(spec.files.values())
    found = find_local(spec, None, tried, write_cache=False, skip=dest)
    if found is not None:
        label, ds = found
        if dest_dir is None:
            return Path(ds.source), f"{label}; nothing to fetch"
        try:
            how = _copy_into(ds, spec, bad, dest)
        except OSError as exc:
            raise DataError(f"cannot write the {spec.name} files into {dest}: {exc}") from exc
        load_dir(spec, dest, check_all=True, write_cache=False)
        return dest, f"copied from {label} {ds.source}: {how}"
    if download is False:
        tried.append("download: not attempted (download=False)")
        raise failure(spec, tried, FETCH_HINT)
    try:
        origins = obtain_files(spec, dest, bad, download_options(download))
        load_dir(spec, dest, check_all=True, write_cache=False)
    except DownloadError as exc:
        raise failure(spec, tried + exc.reasons, FETCH_HINT) from None
    except SourceError as exc:
        raise failure(spec, [*tried, f"downloaded files in {dest}: {exc}"], FETCH_HINT) from None
    hosts = sorted({urlsplit(o).netloc or o for o in origins.values()})
    return dest, "downloaded from " + ", ".join(hosts)
