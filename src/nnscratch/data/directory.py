"""One directory of dataset files: find the four IDX files, read them, verify them, or say what is wrong.

:func:`load_dir` looks for each file gzipped or not, directly or in a sub-directory named after the
dataset; reads it (or its verified decoded copy, see :mod:`nnscratch.data.cache`); checks the md5 and
sha256 of the decompressed bytes (:mod:`nnscratch.data.digests`) and the shapes; and returns a
:class:`Dataset`, or raises :class:`SourceError` naming every missing or wrong file (and the registered
dataset the files really are, when they are another one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnscratch.data import cache as npy_cache
from nnscratch.data.digests import mismatch
from nnscratch.data.idx import read_idx_with_digests
from nnscratch.data.registry import REGISTRY, DatasetSpec, FileSpec, cache_dir
from nnscratch.errors import DataError


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
        return (
            f"Dataset(name={self.name!r}, train={len(self.x_train)}, test={len(self.x_test)}, "
            f"image_shape={tuple(self.x_train.shape[1:])}, verified={self.verified}, "
            f"source={self.source!r})"
        )


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
            raise SourceError(
                f"the {split} files in {directory} have shapes {x.shape} and {y.shape}, "
                f"expected (n, {', '.join(map(str, spec.image_shape))}) and (n,)",
                [],
            )
        if len(x) != len(y):
            raise SourceError(f"{directory} holds {len(x)} {split} images but {len(y)} labels", [])
        if y.size and int(y.max()) >= spec.num_classes:
            raise SourceError(
                f"{directory} has {split} labels up to {int(y.max())}, expected < {spec.num_classes}", []
            )


@dataclass
class _Reading:
    """What reading a directory's files gave: arrays and md5s by role, and what went wrong."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    md5s: dict[str, str] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    bad: list[FileSpec] = field(default_factory=list)
    mismatched: dict[str, str] = field(default_factory=dict)  # role -> md5 of a well-formed wrong file
    verified: bool = True


def _find_files(
    spec: DatasetSpec, directory: Path, store: Path
) -> tuple[dict[str, Path | None], dict[str, np.ndarray]]:
    """Each role's file in ``directory``; in the user cache, a verified decoded copy stands in for a
    file that is gone (returned as the second dict)."""
    located = {role: _locate(directory, f) for role, f in spec.files.items()}
    decoded: dict[str, np.ndarray] = {}
    if same_dir(directory, store):
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


def _read_file(
    fspec: FileSpec, path: Path, store: Path, *, write_cache: bool
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


def _read_all(
    spec: DatasetSpec,
    located: dict[str, Path | None],
    decoded: dict[str, np.ndarray],
    store: Path,
    *,
    verify: bool,
    write_cache: bool,
) -> _Reading:
    reading = _Reading()
    for role, fspec in spec.files.items():
        path = located[role]
        if path is None:
            reading.problems.append(f"missing {fspec.name}[.gz]")
            reading.bad.append(fspec)
            continue
        if role in decoded:
            reading.arrays[role], reading.md5s[role], reading.paths[role] = decoded[role], fspec.md5, path
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
        reading.arrays[role], reading.md5s[role], reading.paths[role] = array, md5, path
    return reading


def identify(ds: Dataset) -> DatasetSpec | None:
    """The other registered dataset whose four files ``ds`` holds (by md5), for unverified data."""
    spec = REGISTRY.get(ds.name)
    if spec is None:
        return None
    return _identify(spec, {role: ds.checksums.get(f.name, "") for role, f in spec.files.items()})


def _identify(spec: DatasetSpec, md5s: dict[str, str]) -> DatasetSpec | None:
    """The other registered dataset whose four files have these md5s (by role), if there is one."""
    if len(md5s) != len(spec.files):
        return None
    return next(
        (
            other
            for other in REGISTRY.values()
            if other.name != spec.name and all(other.files[role].md5 == md5 for role, md5 in md5s.items())
        ),
        None,
    )


def _reading_error(spec: DatasetSpec, reading: _Reading) -> SourceError:
    other = _identify(spec, reading.mismatched)
    if other is not None:
        return SourceError(
            f"these are the {other.name} files, not {spec.name}: add --dataset "
            f"{other.name} (load_dataset({other.name!r}) in Python)",
            reading.bad,
        )
    if len(reading.mismatched) == len(reading.problems) == len(spec.files):
        return SourceError(
            f"none of the four files has the {spec.name} checksums (another dataset or "
            f"version?), e.g. {reading.problems[0]}",
            reading.bad,
        )
    return SourceError("; ".join(reading.problems), reading.bad)


def load_dir(
    spec: DatasetSpec,
    directory: Path,
    *,
    verify: bool = True,
    check_all: bool = False,
    write_cache: bool = True,
) -> Dataset:
    """Load ``spec`` from ``directory``; raise SourceError naming every missing or wrong file.

    Without ``check_all`` a missing file fails at once; with it (the user cache, a fetch target)
    every file is checked so that ``bad`` lists exactly the files to fetch.
    """
    if not directory.is_dir():
        what = "it is a file, not a directory" if directory.exists() else "the directory does not exist"
        raise SourceError(what, list(spec.files.values()))
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
    return Dataset(
        a["train_images"],
        a["train_labels"],
        a["test_images"],
        a["test_labels"],
        name=spec.name,
        source=str(directory),
        verified=reading.verified,
        checksums={f.name: reading.md5s[role] for role, f in spec.files.items()},
        class_names=spec.class_names,
        files={f.name: reading.paths[role] for role, f in spec.files.items()},
    )


def same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
