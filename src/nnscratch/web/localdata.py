"""MNIST as the web app uses it: test digits to show, training digits to replay while fine-tuning.

Read on first use from local copies only (``--data-dir``, ``$NNSCRATCH_DATA``, the user cache, ...),
never downloaded: a server does not start fetching data because someone clicked a button.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from nnscratch.errors import DataError
from nnscratch.web.bodies import BadRequest

MISSING = (
    "the MNIST files are not on this machine; start the server with --data-dir DIR "
    "(or set NNSCRATCH_DATA, or run `nnscratch data fetch`)"
)


class LocalMnist:
    """The MNIST dataset from local files, loaded once; a 404 (as :class:`BadRequest`) when absent."""

    def __init__(self, data_dir: str | Path | None, seed: int | None = None) -> None:
        self.data_dir = data_dir
        self.rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._dataset = None

    def dataset(self):
        with self._lock:
            if self._dataset is None:
                from nnscratch.data import load_dataset

                try:
                    self._dataset = load_dataset("mnist", self.data_dir, download=False)
                except (DataError, OSError):
                    raise BadRequest(404, MISSING) from None
            return self._dataset

    def test_digit(self, index: int | None) -> tuple[int, np.ndarray, int]:
        """``(index, image uint8 (28, 28), label)``; a random test image when ``index`` is None."""
        ds = self.dataset()
        n = len(ds.y_test)
        if index is None:
            with self._lock:
                index = int(self.rng.integers(n))
        if index >= n:
            raise BadRequest(422, f"index must be in 0..{n - 1}, got {index}")
        return index, np.asarray(ds.x_test[index]), int(ds.y_test[index])
