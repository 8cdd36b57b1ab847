"""Shared fixtures: where the real MNIST files are, and small synthetic data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
_DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist"


def mnist_dir() -> Path | None:
    """The directory holding the four canonical MNIST files, or None when absent."""
    env = os.environ.get("NNSCRATCH_TEST_MNIST")
    path = Path(env) if env else _DEFAULT_MNIST
    return path if (path / "train-images-idx3-ubyte.gz").exists() else None


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory) -> Iterator[None]:
    """Every test sees one shared throw-away user cache and no NNSCRATCH_DATA, so the suite never
    writes to ~/.cache and the decoded MNIST copy is built once per run."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    patch.delenv("NNSCRATCH_DATA", raising=False)
    yield
    patch.undo()


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """A user cache of this test's own (returned: its nnscratch folder), and no $NNSCRATCH_DATA."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("NNSCRATCH_DATA", raising=False)
    return tmp_path / "xdg" / "nnscratch"


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    path = mnist_dir()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("real MNIST is missing in CI (expected ../shared/data/mnist)")
        pytest.skip("real MNIST not available")
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
