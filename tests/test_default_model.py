"""The model shipped in the package: small, made by the project's own command, and as accurate as it says."""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings

import pytest

from datahelpers import read_mnist
from nnscratch import DeepNeuralNetwork
from nnscratch.cli import main
from nnscratch.models import DEFAULT_MODEL, DEFAULT_MODEL_COMMAND

REPO_README = DEFAULT_MODEL.parents[3] / "README.md"


def test_the_default_model_is_small_and_says_how_it_was_made():
    assert DEFAULT_MODEL.stat().st_size < 1_000_000
    net = DeepNeuralNetwork.load(DEFAULT_MODEL)
    assert net.sizes == [784, 128, 64, 10]
    assert net.metadata["dataset"] == "mnist" and net.metadata["preset"] == "tutorial"
    assert net.config()["seed"] == 0 and len(net.history) == 10
    assert DEFAULT_MODEL_COMMAND in REPO_README.read_text(encoding="utf-8")


@pytest.mark.mnist
def test_the_stored_test_accuracy_is_measured_again(mnist_path):
    net = DeepNeuralNetwork.load(DEFAULT_MODEL)
    x_test, y_test = read_mnist(mnist_path, "t10k", 10_000)
    stored = net.metadata["test_accuracy"]
    measured = net.compute_accuracy(x_test, y_test)
    assert measured == stored  # to the last digit stored
    assert stored > 0.975


def test_predict_uses_the_default_model_without_a_model_argument(tmp_path, capsys, mnist_path):
    from PIL import Image

    images, labels = read_mnist(mnist_path, "t10k", 2)
    Image.fromarray(images[1]).save(tmp_path / "digit.png")
    assert main(["predict", str(tmp_path / "digit.png"), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first[0]["prediction"] == labels[1]
    assert main(["predict", "--model", str(DEFAULT_MODEL), str(tmp_path / "digit.png"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert main(["predict", str(DEFAULT_MODEL), str(tmp_path / "digit.png"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert main(["predict", str(DEFAULT_MODEL)]) == 1
    assert "no images given" in capsys.readouterr().err
    run = tmp_path / "run"  # a checkpoint folder is a model too, as the first argument
    run.mkdir()
    shutil.copy(DEFAULT_MODEL, run / "last.npz")
    assert main(["predict", str(run), str(tmp_path / "digit.png"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert main(["predict", str(tmp_path), "--json"]) == 0  # a folder of images is not a model
    assert [entry["prediction"] for entry in json.loads(capsys.readouterr().out)] == [labels[1]]


def test_the_default_model_is_tracked_by_git():
    root = DEFAULT_MODEL.parents[3]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "src/nnscratch/models/default.npz"],
        cwd=root,
        capture_output=True,
    )
    assert done.stdout == b""


def test_the_package_data_includes_the_model_and_the_page():
    """setuptools' own reading of pyproject.toml: the files a wheel or sdist will carry besides modules."""
    from setuptools.config.pyprojecttoml import read_configuration

    root = DEFAULT_MODEL.parents[3]
    with warnings.catch_warnings():  # "[tool.setuptools] support is beta": not what this test is about
        warnings.simplefilter("ignore")
        config = read_configuration(root / "pyproject.toml")
    patterns = config["tool"]["setuptools"]["package-data"]["nnscratch"]
    package = root / "src" / "nnscratch"
    shipped = {p.relative_to(package).as_posix() for pattern in patterns for p in package.glob(pattern)}
    needed = {
        "models/default.npz",
        "web/static/index.html",
        "web/static/app.js",
        "web/static/teach.js",
        "web/static/app.css",
    }
    assert needed <= shipped
