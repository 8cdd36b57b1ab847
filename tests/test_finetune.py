"""Fine-tuning on the user's handwriting: the Python API, the folder reader and ``nnscratch finetune``.

The base model is the tutorial network after one epoch on real MNIST (a module-scoped fixture); the
user is the generated handwriting style of ``tests/handwriting.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from handwriting import style_digits, write_style_dir
from nnscratch import DeepNeuralNetwork
from nnscratch.cli import main
from nnscratch.errors import FinetuneError, ImageError
from nnscratch.images.folders import read_labelled_dir
from nnscratch.images.preprocess import preprocess_image
from nnscratch.training.finetune import LR_BY_ACTIVATION, RECIPE, finetune
from nnscratch.training.presets import build_network

PER_CLASS = 8


@pytest.fixture(scope="module")
def mnist(mnist_path):
    from nnscratch.data import load_mnist

    return load_mnist(mnist_path)


@pytest.fixture(scope="module")
def base_model(tmp_path_factory, mnist) -> Path:
    net = build_network("tutorial", epochs=1, seed=0, verbose=False)
    net.train(mnist.x_train, mnist.y_train)
    return net.save(tmp_path_factory.mktemp("base") / "base.npz")


@pytest.fixture(scope="module")
def style_dir(tmp_path_factory) -> Path:
    return write_style_dir(tmp_path_factory.mktemp("style") / "digits", PER_CLASS, seed=7)


@pytest.fixture(scope="module")
def style() -> tuple[np.ndarray, np.ndarray]:
    return style_digits(PER_CLASS, seed=11)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def finetune_cli(capsys, model, folder, out, mnist_path, *extra) -> tuple[int, str, str]:
    return run_cli(capsys, "finetune", model, folder, "--out", out, "--data-dir", mnist_path, *extra)


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("nnscratch: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ---------------------------------------------------------------- reading DIR/<digit>/<files>


def test_read_labelled_dir_reads_every_digit_like_predict(style_dir):
    digits = read_labelled_dir(style_dir)
    assert digits.images.shape == (10 * PER_CLASS, 28, 28) and digits.images.dtype == np.float32
    assert digits.counts == dict.fromkeys(range(10), PER_CLASS)
    assert [int(p.parent.name) for p in digits.paths] == digits.labels.tolist()
    np.testing.assert_array_equal(digits.images[5], preprocess_image(digits.paths[5]))
    assert digits.skipped == []


def test_images_directly_in_dir_is_a_wrong_layout(tmp_path, style_dir):
    (tmp_path / "a.png").write_bytes((style_dir / "3" / "0003.png").read_bytes())
    with pytest.raises(ImageError, match=r"wrong layout.*a\.png.*folder named after the digit"):
        read_labelled_dir(tmp_path)


def test_no_digit_folders_is_a_wrong_layout(tmp_path):
    (tmp_path / "notes.txt").write_text("my digits")
    with pytest.raises(ImageError, match="no digit folders"):
        read_labelled_dir(tmp_path)


def test_digit_folders_without_images(tmp_path):
    (tmp_path / "3").mkdir()
    (tmp_path / "5").mkdir()
    (tmp_path / "5" / "readme.txt").write_text("nothing here")
    with pytest.raises(ImageError, match="no images found"):
        read_labelled_dir(tmp_path)


def test_label_folder_that_is_not_a_digit_is_named(tmp_path, style_dir):
    (tmp_path / "7").mkdir()
    (tmp_path / "seven").mkdir()
    (tmp_path / "seven" / "a.png").write_bytes((style_dir / "7" / "0007.png").read_bytes())
    with pytest.raises(ImageError, match=r"'.*seven' is not a digit"):
        read_labelled_dir(tmp_path)


def test_unreadable_image_is_skipped_and_named(tmp_path, style_dir):
    for digit in ("1", "4"):
        (tmp_path / digit).mkdir()
        for src in sorted((style_dir / digit).iterdir())[:3]:
            (tmp_path / digit / src.name).write_bytes(src.read_bytes())
    (tmp_path / "4" / "broken.png").write_bytes(b"\x89PNG not really")
    digits = read_labelled_dir(tmp_path)
    assert digits.counts[1] == 3 and digits.counts[4] == 3 and len(digits.labels) == 6
    assert [p.name for p, _ in digits.skipped] == ["broken.png"]
    assert "broken.png" in digits.skipped[0][1]


# ---------------------------------------------------------------- the Python API


def test_finetune_leaves_the_given_network_untouched(base_model, style, mnist):
    net = DeepNeuralNetwork.load(base_model)
    params, history, metadata = net.get_params(), list(net.history), json.dumps(net.metadata)
    result = finetune(
        net, *style, replay=(mnist.x_train, mnist.y_train), test=(mnist.x_test[:2000], mnist.y_test[:2000])
    )
    assert result.network is not net
    for key, value in params.items():
        np.testing.assert_array_equal(net.params[key], value)
    assert net.history == history and json.dumps(net.metadata) == metadata
    assert any(not np.array_equal(result.network.params[k], v) for k, v in params.items())


def test_finetune_learns_the_style_and_reports_it(base_model, style, mnist):
    net = DeepNeuralNetwork.load(base_model)
    seen: list[float] = []
    result = finetune(
        net,
        *style,
        replay=(mnist.x_train, mnist.y_train),
        test=(mnist.x_test, mnist.y_test),
        holdout=0.5,
        progress=seen.append,
    )
    assert result.n_held_out == 10 * PER_CLASS // 2 and result.n_trained == 10 * PER_CLASS // 2
    assert result.user_after > result.user_before
    assert result.test_before == pytest.approx(net.compute_accuracy(mnist.x_test, mnist.y_test))
    assert result.test_after == pytest.approx(result.network.compute_accuracy(mnist.x_test, mnist.y_test))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen) and len(seen) > 2
    figures = json.loads(json.dumps(result.to_dict()))
    assert figures["digits_per_class"] == {str(d): PER_CLASS for d in range(10)}
    assert figures["user_holdout"] == {
        "n": result.n_held_out,
        "before": result.user_before,
        "after": result.user_after,
    }
    assert figures["accepted"] is result.accepted
    assert figures["recipe"]["lr"] == LR_BY_ACTIVATION["sigmoid"]  # lr=None: chosen by the activation


def test_a_single_digit_is_trained_on_and_not_held_out(base_model, style, mnist):
    net = DeepNeuralNetwork.load(base_model)
    images, labels = style
    result = finetune(net, images[:1], labels[:1], replay=(mnist.x_train, mnist.y_train), epochs=2)
    assert result.n_trained == 1 and result.n_held_out == 0
    assert result.n_replayed == 2 * RECIPE["replay_ratio"]
    assert result.user_before is None and result.user_after is None and result.accepted
    assert "not measured" in result.reason


def test_seeded_runs_are_identical(base_model, style, mnist):
    net = DeepNeuralNetwork.load(base_model)
    replay = (mnist.x_train, mnist.y_train)
    a, b, c = (finetune(net, *style, replay=replay, seed=s, epochs=2) for s in (3, 3, 4))
    for key in a.network.params:
        np.testing.assert_array_equal(a.network.params[key], b.network.params[key])
    assert any(not np.array_equal(a.network.params[k], c.network.params[k]) for k in a.network.params)


def test_refused_when_mnist_accuracy_would_drop(base_model, style, mnist):
    net = DeepNeuralNetwork.load(base_model)
    result = finetune(net, *style, test=(mnist.x_test, mnist.y_test), lr=2.0, replay_ratio=0, epochs=3)
    assert not result.accepted
    assert result.test_drop is None or result.test_drop > 0.5
    assert "refused" in result.reason or "diverged" in result.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"learning_rate": 0.1}, "unknown fine-tuning option"),
        ({"augment": {"max_spin": 3}}, "augment must be"),
        ({"lr": -1.0}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"holdout": 1.0}, "holdout"),
        ({"max_drop": -1}, "max_drop"),
        ({"replay": (np.zeros((3, 5)), np.zeros(3, dtype=int))}, "replay"),
        ({"replay": (np.zeros((3, 784)), np.zeros(3, dtype=int)), "replay_ratio": 1e4}, "more than 300,000"),
    ],
)
def test_bad_options_are_refused_clearly(base_model, style, kwargs, message):
    net = DeepNeuralNetwork.load(base_model)
    with pytest.raises(FinetuneError, match=message):
        finetune(net, *style, **kwargs)


def test_bad_digits_are_refused_clearly(base_model, style):
    net = DeepNeuralNetwork.load(base_model)
    images, labels = style
    with pytest.raises(FinetuneError, match="labels must be in 0..9"):
        finetune(net, images, labels + 1)
    with pytest.raises(FinetuneError, match="no images"):
        finetune(net, images[:0], labels[:0])
    with pytest.raises(FinetuneError, match="shape"):
        finetune(net, images[:, :20], labels)


# ---------------------------------------------------------------- nnscratch finetune


def test_cli_writes_the_new_model_with_its_provenance(capsys, base_model, style_dir, tmp_path, mnist_path):
    out = tmp_path / "mine.npz"
    code, stdout, err = finetune_cli(capsys, base_model, style_dir, out, mnist_path)
    assert code == 0, err
    assert "MNIST test accuracy:" in stdout and "your held-out digits (20):" in stdout
    assert f"saved {out}" in stdout
    assert "fine-tuning" not in err  # no progress bar when stderr is not a terminal
    meta = DeepNeuralNetwork.load(out).metadata
    sha = hashlib.sha256(base_model.read_bytes()).hexdigest()
    assert meta["finetune"]["from"] == {"file": "base.npz", "sha256": sha}
    assert meta["finetune"]["digits_per_class"] == {str(d): PER_CLASS for d in range(10)}
    assert meta["finetune"]["n_trained"] == 60 and meta["finetune"]["user_holdout"]["n"] == 20
    assert meta["test_accuracy"] == meta["finetune"]["mnist_test"]["after"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.npz"]  # no temporary file left


def test_cli_progress_bar_on_a_terminal(capsys, monkeypatch, base_model, style_dir, tmp_path, mnist_path):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, stdout, err = finetune_cli(
        capsys, base_model, style_dir, tmp_path / "n.npz", mnist_path, "--epochs", "1"
    )
    assert code == 0 and "fine-tuning" in err and "fine-tuning" not in stdout


def test_cli_json_and_skipped_image(capsys, base_model, style_dir, tmp_path, mnist_path):
    folder = tmp_path / "digits"
    for digit in ("2", "9"):
        (folder / digit).mkdir(parents=True)
        for src in sorted((style_dir / digit).iterdir()):
            (folder / digit / src.name).write_bytes(src.read_bytes())
    (folder / "9" / "scribble.jpg").write_bytes(b"not a jpeg at all")
    out = tmp_path / "new.npz"
    code, stdout, err = finetune_cli(capsys, base_model, folder, out, mnist_path, "--json", "--epochs", "2")
    assert code == 0, err
    assert "skipped" in err and "scribble.jpg" in err
    figures = json.loads(stdout)
    assert figures["digits_per_class"]["9"] == PER_CLASS and figures["digits_per_class"]["2"] == PER_CLASS
    assert [Path(p).name for p, _ in figures["skipped"]] == ["scribble.jpg"]
    assert DeepNeuralNetwork.load(out).metadata["finetune"]["skipped_files"] == 1


def test_cli_refuses_and_writes_nothing_when_mnist_drops(capsys, base_model, style_dir, tmp_path, mnist_path):
    out = tmp_path / "new.npz"
    code, stdout, err = finetune_cli(
        capsys, base_model, style_dir, out, mnist_path, "--lr", "2", "--replay-ratio", "0", "--epochs", "3"
    )
    assert code == 1
    line = one_line_error(err)
    assert "nothing was written" in line and ("refused" in line or "diverged" in line)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_tiny_max_drop_is_honoured(capsys, base_model, style_dir, tmp_path, mnist_path):
    out = tmp_path / "new.npz"
    code, _, err = finetune_cli(
        capsys,
        base_model,
        style_dir,
        out,
        mnist_path,
        "--max-drop",
        "0",
        "--replay-ratio",
        "0",
        "--epochs",
        "3",
    )
    assert code == 1 and "more than the 0-point limit" in one_line_error(err)
    assert not out.exists()


@pytest.mark.parametrize("spelling", ["same", "dotted"])
def test_cli_refuses_out_equal_to_model(capsys, base_model, style_dir, mnist_path, spelling):
    before = base_model.read_bytes()
    out = base_model if spelling == "same" else base_model.parent / "." / base_model.name
    code, _, err = finetune_cli(capsys, base_model, style_dir, out, mnist_path, "--force")
    assert code == 2 and "--out" in one_line_error(err) and "MODEL" in err  # a bad combination: 2
    assert base_model.read_bytes() == before


def test_cli_existing_out_needs_force(capsys, base_model, style_dir, tmp_path, mnist_path):
    out = tmp_path / "new.npz"
    out.write_bytes(b"keep me")
    code, _, err = finetune_cli(capsys, base_model, style_dir, out, mnist_path, "--epochs", "1")
    assert code == 2 and "--force" in one_line_error(err) and out.read_bytes() == b"keep me"
    code, _, err = finetune_cli(capsys, base_model, style_dir, out, mnist_path, "--epochs", "1", "--force")
    assert code == 0, err
    assert DeepNeuralNetwork.load(out).metadata["finetune"]["recipe"]["epochs"] == 1


def test_cli_starts_from_a_checkpoint_directory(capsys, base_model, style_dir, tmp_path, mnist_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.npz").write_bytes(base_model.read_bytes())
    out = tmp_path / "new.npz"
    code, _, err = finetune_cli(capsys, run, style_dir, out, mnist_path, "--epochs", "1")
    assert code == 0, err
    assert DeepNeuralNetwork.load(out).metadata["finetune"]["from"]["file"] == "last.npz"
    code, _, err = finetune_cli(capsys, run, style_dir, run / "last.npz", mnist_path)
    assert code == 2 and "is MODEL itself" in one_line_error(err)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("loose", "wrong layout"),
        ("empty", "no images found"),
        ("named", "seven' is not a digit"),
        ("missing", "does not exist"),
    ],
)
def test_cli_folder_errors_are_one_line(capsys, base_model, style_dir, tmp_path, mnist_path, layout, message):
    folder = tmp_path / "digits"
    picture = (style_dir / "7" / "0007.png").read_bytes()
    if layout == "loose":
        folder.mkdir()
        (folder / "seven.png").write_bytes(picture)
    elif layout == "empty":
        (folder / "0").mkdir(parents=True)
    elif layout == "named":
        (folder / "seven").mkdir(parents=True)
        (folder / "seven" / "a.png").write_bytes(picture)
    out = tmp_path / "new.npz"
    code, _, err = finetune_cli(capsys, base_model, folder, out, mnist_path)
    assert code == 1 and message in one_line_error(err)
    assert not out.exists()


def test_cli_bad_recipe_value_is_a_usage_error(capsys, base_model, style_dir, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["finetune", str(base_model), str(style_dir), "--out", str(tmp_path / "n.npz"), "--lr", "0"])
    assert exc.value.code == 2 and "--lr" in capsys.readouterr().err


# ---------------------------------------------------------------- where the code sits


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        # _files: the base layer (atomic writes, file checksums); inputs: the maths' one pixel rule
        (
            "training/finetune.py",
            (
                "nnscratch._files",
                "nnscratch.errors",
                "nnscratch.inputs",
                "nnscratch.network",
                "nnscratch.training.",
            ),
        ),
        ("images/folders.py", ("nnscratch.errors", "nnscratch.images.")),
    ],
)
def test_imports_point_one_way(module, allowed):
    """The fine-tuning core is training (no images/, data/ or cli/); the folder reader is images."""
    import ast

    import nnscratch

    path = Path(nnscratch.__file__).resolve().parent / module
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    ours = {name for name in names if name.startswith("nnscratch")}
    bad = sorted(n for n in ours if not any(n == a.rstrip(".") or n.startswith(a) for a in allowed))
    assert ours and not bad, bad


def test_a_missing_tqdm_is_said_once_instead_of_the_bar(monkeypatch, capsys):
    """On a terminal without tqdm, finetune says how to get the bar, as train does, and runs without."""
    import argparse
    import io
    import sys

    from nnscratch.cli import finetune as finetune_cli

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setattr(sys, "stderr", Terminal())
    args = argparse.Namespace(progress=True, json=False)
    assert finetune_cli._progress(args) is None
    assert sys.stderr.getvalue() == "(install tqdm, `pip install nnscratch[cli]`, for a progress bar)\n"
