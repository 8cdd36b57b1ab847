"""``nnscratch predict``: tables, JSON, bad files that do not stop the rest, and ``--show-input``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from datahelpers import read_mnist
from nnscratch import DeepNeuralNetwork
from nnscratch.cli import main
from nnscratch.images.preprocess import preprocess_image

Image = pytest.importorskip("PIL.Image")
ImageDraw = pytest.importorskip("PIL.ImageDraw")


@pytest.fixture(scope="module")
def setup(mnist_path: Path, tmp_path_factory):
    """A model trained 1 epoch on 3000 MNIST digits, and a folder of pictures made from test digits."""
    root = tmp_path_factory.mktemp("predict")
    x, y = read_mnist(mnist_path, "train", 3000)
    net = DeepNeuralNetwork(epochs=1, batch_size=32, l_rate=0.5, seed=0, verbose=False)
    net.train(x.reshape(-1, 784), y)
    model = net.save(root / "model.npz")
    digits, labels = read_mnist(mnist_path, "t10k", 3)
    pics = root / "pics"
    pics.mkdir()
    Image.fromarray(digits[0]).save(pics / "a_mnist.png")  # exactly an MNIST digit
    big = Image.fromarray(255 - digits[1]).resize((168, 168), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (300, 240), 255)
    canvas.paste(big, (110, 50))  # dark on light, off-centre, 6x larger
    canvas.convert("RGB").save(pics / "b_photo.jpg", quality=90)
    drawing = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(drawing).line([(60, 30), (60, 170)], fill=(0, 0, 0, 255), width=16)  # a '1'
    drawing.save(pics / "c_drawing.png")
    return net, model, pics, digits, labels


def expected(net, path: Path) -> np.ndarray:
    return net.predict_proba(preprocess_image(path).reshape(1, -1))[0]


def test_table_output(setup, capsys) -> None:
    net, model, pics, digits, _ = setup
    files = sorted(pics.iterdir())
    assert main(["predict", str(model), *map(str, files), "--top-k", "3"]) == 0
    out = capsys.readouterr().out
    blocks = re.split(r"\n(?=\S)", out.strip())  # one block per image; its rows are indented
    assert len(blocks) == 3
    for block, path in zip(blocks, files, strict=True):
        lines = block.splitlines()
        proba = expected(net, path)
        order = np.argsort(-proba)[:3]
        assert lines[0] == f"{path}: {order[0]}"
        assert lines[1].split() == ["digit", "probability"]
        rows = [line.split() for line in lines[2:]]
        assert [int(r[0]) for r in rows] == list(order)
        shown = [float(r[1]) for r in rows]
        assert shown == sorted(shown, reverse=True)
        assert shown == pytest.approx(100 * proba[order], abs=0.006)
    # the MNIST digit saved as a PNG reaches the network unchanged
    first = blocks[0].splitlines()[0]
    assert first.endswith(f": {net.predict(digits[0].reshape(1, -1))[0]}")


def test_json_output_for_a_folder(setup, capsys) -> None:
    net, model, pics, digits, _ = setup
    assert main(["predict", str(model), str(pics), "--json", "--top-k", "10"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [Path(r["path"]).name for r in results] == ["a_mnist.png", "b_photo.jpg", "c_drawing.png"]
    for result in results:
        probabilities = [row["probability"] for row in result["top_k"]]
        assert sorted(row["class"] for row in result["top_k"]) == list(range(10))
        assert all(row["name"] == str(row["class"]) for row in result["top_k"])  # MNIST's names are digits
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
        assert probabilities == sorted(probabilities, reverse=True)
        proba = expected(net, Path(result["path"]))
        assert result["prediction"] == int(np.argmax(proba)) == result["top_k"][0]["class"]
        assert probabilities == pytest.approx(np.sort(proba)[::-1], abs=1e-5)
    direct = net.predict_proba(digits[0].reshape(1, -1))[0]
    assert [row["probability"] for row in results[0]["top_k"]] == pytest.approx(
        np.sort(direct)[::-1], abs=0.01
    )


def test_a_bad_file_does_not_stop_the_others(setup, tmp_path: Path, capsys) -> None:
    _, model, pics, *_ = setup
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    Image.new("RGB", (50, 50), "white").save(tmp_path / "blank.png")
    args = [
        "predict",
        str(model),
        str(tmp_path / "broken.png"),
        str(pics / "a_mnist.png"),
        str(tmp_path / "blank.png"),
        str(tmp_path / "missing.png"),
    ]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert f"{pics / 'a_mnist.png'}: " in captured.out
    errors = captured.err.strip().splitlines()
    assert len(errors) == 4
    assert "broken.png" in errors[0] and "not an image file" in errors[0]
    assert "blank.png" in errors[1] and "contains no ink" in errors[1]
    assert "missing.png" in errors[2] and "does not exist" in errors[2]
    assert errors[3] == "nnscratch: 3 of 4 images could not be read"
    assert main([*args, "--json"]) == 1
    results = json.loads(capsys.readouterr().out)
    assert ["error" in r for r in results] == [True, False, True, True]
    assert "not an image file" in results[0]["error"]


def test_show_input_saves_what_the_network_saw(setup, tmp_path: Path, capsys) -> None:
    _, model, pics, *_ = setup
    other = tmp_path / "other"
    other.mkdir()
    Image.open(pics / "c_drawing.png").save(other / "c_drawing.png")  # same name, another folder
    seen = tmp_path / "seen"
    assert main(["predict", str(model), str(pics), str(other), "--show-input", str(seen), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    names = sorted(os.listdir(seen))
    assert names == ["a_mnist_28x28.png", "b_photo_28x28.png", "c_drawing-2_28x28.png", "c_drawing_28x28.png"]
    for result in results:
        saved = Path(result["input_png"])
        with Image.open(saved) as im:
            assert im.size == (28, 28) and im.mode == "L"
            pixels = np.asarray(im)
        want = np.round(preprocess_image(Path(result["path"])) * 255).astype(np.uint8)
        np.testing.assert_array_equal(pixels, want)
        assert pixels[0].max() == 0 and pixels.max() == 255  # light digit on black, like MNIST
    assert main(["predict", str(model), str(pics / "a_mnist.png"), "--show-input", str(seen)]) == 0
    assert f"network input saved to {seen / 'a_mnist_28x28.png'}" in capsys.readouterr().out


def test_bad_options_and_model(setup, tmp_path: Path, capsys) -> None:
    _, model, pics, *_ = setup
    with pytest.raises(SystemExit) as info:
        main(["predict", str(model), str(pics), "--top-k", "0"])
    assert info.value.code == 2
    assert "--top-k must be >= 1, got 0" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nope.npz"), str(pics)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("nnscratch: error:") and "nope.npz" in err and "\n" not in err


def test_command_line_entry_point(setup) -> None:
    _, model, pics, *_ = setup
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "nnscratch", "predict", str(model), str(pics / "b_photo.jpg"), "--top-k", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{pics / 'b_photo.jpg'}: ") and len(done.stdout.splitlines()) == 4
