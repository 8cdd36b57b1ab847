"""Shared fixtures: where the real MNIST files are, and small synthetic data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from datahelpers import find_mnist
from nnscratch.data.registry import cache_root

REPO = Path(__file__).resolve().parents[1]
_DEFAULT_MNIST = REPO.parent / "shared" / "data" / "mnist"
# Found once, before the fixtures below point the user cache elsewhere: the real user cache counts.
_MNIST, _MNIST_MISSING = find_mnist(
    os.environ.get("NNSCRATCH_TEST_MNIST"), _DEFAULT_MNIST, cache_root() / "mnist"
)


def mnist_dir() -> Path | None:
    """The directory holding the four canonical MNIST files, or None when absent."""
    return _MNIST


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
            pytest.fail(f"real MNIST is missing in CI: {_MNIST_MISSING}")
        pytest.skip(_MNIST_MISSING)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
