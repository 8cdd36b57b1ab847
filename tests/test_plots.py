"""The PNG pictures of a network really trained on MNIST (1 epoch on a few thousand images)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from datahelpers import read_mnist
from nnscratch import DeepNeuralNetwork
from nnscratch.evaluation import plots

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")

N_TRAIN, N_TEST = 4000, 2000


@pytest.fixture(scope="module")
def trained(mnist_path: Path):
    x, y = read_mnist(mnist_path, "train", N_TRAIN)
    x_test, y_test = read_mnist(mnist_path, "t10k", N_TEST)
    net = DeepNeuralNetwork(epochs=1, batch_size=32, l_rate=0.5, seed=0, verbose=False)
    history = net.train(x[:3000].reshape(-1, 784), y[:3000], x[3000:].reshape(-1, 784), y[3000:])
    proba = net.predict_proba(x_test.reshape(-1, 784))
    return net, history, x_test, y_test, proba


def check_png(path: Path, min_size: tuple[int, int], max_size: tuple[int, int] = (3000, 3000)) -> np.ndarray:
    """Assert ``path`` is a valid, non-blank PNG of a sensible size, readable by others; return pixels."""
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.verify()
    with Image.open(path) as im:
        assert min_size[0] <= im.width <= max_size[0] and min_size[1] <= im.height <= max_size[1], im.size
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    assert pixels.std() > 10  # not a blank canvas
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # atomic: no leftovers
    return pixels


def test_learning_curves(trained, tmp_path: Path) -> None:
    _, history, *_ = trained
    assert history[0]["val_loss"] is not None
    path = plots.plot_learning_curves(history, tmp_path / "sub" / "curves.png")
    assert path == tmp_path / "sub" / "curves.png"
    check_png(path, (800, 300))
    # several epochs, without validation (None values) and with a training accuracy, also work
    rows = [
        {"epoch": e, "loss": 1.0 / e, "val_loss": None, "val_accuracy": None, "accuracy": 0.5 + e / 20}
        for e in range(1, 8)
    ]
    check_png(plots.plot_learning_curves(rows, tmp_path / "no_val.png"), (800, 300))
    with pytest.raises(ValueError, match="history is empty"):
        plots.plot_learning_curves([], tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


def test_confusion_matrix(trained, tmp_path: Path) -> None:
    from nnscratch.evaluation.metrics import confusion_matrix

    _, _, _, y_test, proba = trained
    cm = confusion_matrix(y_test, proba.argmax(axis=1))
    pixels = check_png(plots.plot_confusion_matrix(cm, tmp_path / "cm.png"), (500, 450))
    assert pixels.min() < 60  # dark diagonal cells and text
    with pytest.raises(ValueError, match="square"):
        plots.plot_confusion_matrix(np.zeros((3, 4)), tmp_path / "bad.png")


def test_misclassified_grid(trained, tmp_path: Path) -> None:
    _, _, x_test, y_test, proba = trained
    y_pred = proba.argmax(axis=1)
    assert (y_pred != y_test).sum() > 40  # a 1-epoch network makes mistakes to show
    path = plots.plot_misclassified(x_test, y_test, y_pred, proba.max(axis=1), tmp_path / "wrong.png")
    check_png(path, (1000, 500))
    # flat (n, 784) float inputs and one-hot labels, and a set without mistakes
    onehot = np.eye(10)[y_test]
    check_png(
        plots.plot_misclassified(
            x_test.reshape(-1, 784) / 255.0,
            onehot,
            y_pred,
            proba.max(axis=1),
            tmp_path / "flat.png",
            max_images=5,
        ),
        (300, 100),
    )
    check_png(
        plots.plot_misclassified(x_test, y_test, y_test, proba.max(axis=1), tmp_path / "none.png"), (100, 100)
    )


def test_first_layer_weights(trained, tmp_path: Path) -> None:
    net, *_ = trained
    w1 = net.params["W1"]
    assert w1.shape == (128, 784)
    check_png(plots.plot_first_layer_weights(w1, tmp_path / "w1.png"), (700, 700))
    check_png(plots.plot_first_layer_weights(w1[:10], tmp_path / "w10.png"), (300, 300))
    with pytest.raises(ValueError, match="side"):
        plots.plot_first_layer_weights(np.zeros((4, 50)), tmp_path / "bad.png")


def test_calibration_curve(trained, tmp_path: Path) -> None:
    from nnscratch.evaluation.metrics import expected_calibration_error

    _, _, _, y_test, proba = trained
    check_png(plots.plot_calibration(proba, y_test, tmp_path / "cal.png"), (450, 500))
    # one-hot labels give the same picture as integer labels
    again = plots.plot_calibration(proba, np.eye(10)[y_test], tmp_path / "cal2.png")
    assert again.read_bytes() == (tmp_path / "cal.png").read_bytes()
    assert 0.0 <= expected_calibration_error(proba, y_test)[0] < 0.5


def test_overwrite_is_atomic_and_keeps_the_old_file_on_failure(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "cm.png"
    plots.plot_confusion_matrix(np.eye(3, dtype=int) * 5, target)
    before = target.read_bytes()

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk full")

    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plots.plot_confusion_matrix(np.eye(3, dtype=int) * 7, target)
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["cm.png"]


def test_missing_matplotlib_names_the_extra(tmp_path: Path, monkeypatch) -> None:
    from nnscratch.errors import NNScratchError

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(NNScratchError, match=r"needs matplotlib.*pip install 'nnscratch\[plots\]'"):
        plots.plot_first_layer_weights(np.ones((4, 784)), tmp_path / "w.png")
    assert not (tmp_path / "w.png").exists()
