"""Named recipes are dataset-aware: ``best`` on Fashion-MNIST does not use the digit augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnscratch import DeepNeuralNetwork
from nnscratch.cli import main
from nnscratch.images.augment import Augmenter
from nnscratch.training.presets import BEST, PRESETS, build_network, preset_options

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_best_on_fashion_mnist_has_no_digit_augmentation() -> None:
    mnist, fashion = preset_options("best"), preset_options("best", "fashion-mnist")
    assert mnist["augment"] == BEST["augment"] and mnist["augment"]["max_rotation"] > 0
    assert fashion["augment"] is None  # chosen on the validation split (benchmarks/bench_fashion.py)
    assert {k: v for k, v in fashion.items() if k != "augment"} == {
        k: v for k, v in mnist.items() if k != "augment"
    }
    assert build_network("best", "fashion-mnist").augment is None
    assert build_network("best").augment == Augmenter(**BEST["augment"])


def test_presets_without_a_variant_and_overrides() -> None:
    assert preset_options("tutorial", "fashion-mnist") == preset_options("tutorial") == PRESETS["tutorial"]
    assert preset_options("best", "some-other-dataset") == preset_options("best")
    assert preset_options("best", "fashion-mnist", augment=True, epochs=3)["augment"] is True
    assert preset_options("best", dataset="fashion-mnist", warmup=2)["schedule"]["warmup"] == 2
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        preset_options("fast", "fashion-mnist")


@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").exists(), reason="no Fashion-MNIST copy")
def test_cli_best_preset_on_fashion_mnist_uses_the_fashion_recipe(tmp_path: Path) -> None:
    model = tmp_path / "fashion.npz"
    argv = ["train", "--preset", "best", "--dataset", "fashion-mnist", "--data-dir", str(FASHION)]
    assert main([*argv, "--epochs", "1", "--save", str(model), "--no-progress"]) == 0
    net = DeepNeuralNetwork.load(model)
    assert net.augment is None and net.activation.name == "relu" and net.dropout == pytest.approx(0.1)


def test_horizontal_flip_mirrors_exactly_and_leaves_the_stream_alone() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((6, 28, 28), dtype=np.float32)
    flipped = Augmenter(0.0, 0.0, (1.0, 1.0), hflip=1.0)(x, np.random.default_rng(1))
    np.testing.assert_array_equal(flipped, x[:, :, ::-1])
    some = Augmenter(0.0, 0.0, (1.0, 1.0), hflip=0.5)(x, np.random.default_rng(2))
    mirrored = [np.array_equal(a, b[:, ::-1]) for a, b in zip(some, x, strict=True)]
    kept = [np.array_equal(a, b) for a, b in zip(some, x, strict=True)]
    assert all(m != k for m, k in zip(mirrored, kept, strict=True)) and any(mirrored) and any(kept)
    # without flips, exactly the old stream and result (seeded runs and checkpoints stay reproducible)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(Augmenter(hflip=0.0)(x, a), Augmenter()(x, b))
    assert a.random() == b.random()
    assert not Augmenter(0.0, 0.0, (1.0, 1.0), hflip=0.5).is_identity
    with pytest.raises(ValueError, match="hflip"):
        Augmenter(hflip=1.5)
