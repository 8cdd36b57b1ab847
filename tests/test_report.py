"""The self-contained HTML report (and ``nnscratch report``) for a network really trained on MNIST."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from datahelpers import read_mnist
from nnscratch import DeepNeuralNetwork
from nnscratch.cli import main
from nnscratch.evaluation.metrics import accuracy, expected_calibration_error
from nnscratch.evaluation.report import FIGURES, write_report

Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")

VOID = {"meta", "img", "br", "hr", "link", "input"}


class Structure(HTMLParser):
    """Checks that tags nest properly and collects section ids, images and table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.sections: list[str] = []
        self.images: list[str] = []
        self.rows = 0
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id", ""))
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "tr":
            self.rows += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def parse(text: str) -> Structure:
    parser = Structure()
    parser.feed(text)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    return parser


@pytest.fixture(scope="module")
def trained(mnist_path: Path):
    x, y = read_mnist(mnist_path, "train", 4000)
    net = DeepNeuralNetwork(epochs=1, batch_size=32, l_rate=0.5, seed=0, verbose=False)
    net.train(x[:3000].reshape(-1, 784), y[:3000], x[3000:].reshape(-1, 784), y[3000:])
    x_test, y_test = read_mnist(mnist_path, "t10k", 10000)
    return net, x_test, y_test


def test_report_has_every_section_and_inlined_image(trained, tmp_path: Path) -> None:
    net, x_test, y_test = trained
    net.metadata["note"] = "<script>alert('x')</script> & more"
    html_path = write_report(net, x_test, y_test, tmp_path / "out", title="Test <report>")
    assert html_path == tmp_path / "out" / "report.html"
    for name in FIGURES:
        with Image.open(tmp_path / "out" / name) as im:
            im.verify()
    text = html_path.read_text(encoding="utf-8")
    doc = parse(text)
    assert doc.sections == ["metrics", "per-class", "training", "figures", "configuration"]
    # every picture is inlined and is byte for byte the PNG written next to the page
    assert len(doc.images) == len(FIGURES)
    for name, src in zip(
        [
            "learning_curves.png",
            "confusion_matrix.png",
            "calibration.png",
            "misclassified.png",
            "weights_layer1.png",
        ],
        doc.images,
        strict=True,
    ):
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == (tmp_path / "out" / name).read_bytes()
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).verify()
    # self-contained: no external resources
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", text)
    assert "<script" not in text and "&lt;script&gt;" in text and "Test &lt;report&gt;" in text
    # metrics match what the model does
    proba = net.predict_proba(x_test.reshape(-1, 784))
    acc = accuracy(y_test, proba.argmax(axis=1))
    assert f"{100 * acc:.2f} %" in text
    assert f"{100 * expected_calibration_error(proba, y_test)[0]:.2f} %" in text
    assert f"{int((proba.argmax(axis=1) != y_test).sum())} of 10000" in text
    # per-class table: header + 10 digits + macro average, with recall of digit 1 as computed
    per_class = text.split('id="per-class"')[1].split("</section>")[0]
    assert per_class.count("<tr") == 12
    recall_1 = np.mean(proba.argmax(axis=1)[y_test == 1] == 1)
    assert f"{100 * recall_1:.2f} %" in per_class
    # configuration and history
    config = text.split('id="configuration"')[1]
    for key in ("sizes", "activation", "batch_size", "optimizer", "note"):
        assert f"<th>{key}</th>" in config
    training = text.split('id="training"')[1].split("</section>")[0]
    assert "val_accuracy" in training and "learning_curves.png" in training


def test_report_of_a_saved_model_without_history(trained, tmp_path: Path) -> None:
    net, x_test, y_test = trained
    fresh = DeepNeuralNetwork(seed=1, verbose=False)  # never trained: no history
    fresh.set_params(net.get_params())
    text = write_report(fresh, x_test[:500], np.eye(10)[y_test[:500]], tmp_path).read_text()
    doc = parse(text)
    assert "No training history was saved" in text
    assert len(doc.images) == len(FIGURES) - 1
    assert not (tmp_path / "learning_curves.png").exists()
    assert "500 test images" in text
    with pytest.raises(ValueError, match="labels"):
        write_report(fresh, x_test[:10], y_test[:9], tmp_path)


def test_cli_report(trained, mnist_path: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # keep the user's cache untouched
    net, x_test, y_test = trained
    model = net.save(tmp_path / "model.npz")
    out = tmp_path / "report"
    assert main(["report", str(model), "--out", str(out), "--data-dir", str(mnist_path)]) == 0
    assert f"report written to {out / 'report.html'}" in capsys.readouterr().out
    text = (out / "report.html").read_text()
    doc = parse(text)
    assert len(doc.images) == len(FIGURES)
    acc = net.compute_accuracy(x_test, y_test)
    assert f"{100 * acc:.2f} %" in text and "nnscratch report: model.npz" in text
    # a broken model file is one clear error line, exit code 1
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    assert main(["report", str(bad), "--out", str(out), "--data-dir", str(mnist_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("nnscratch: error:") and "bad.npz" in err and "\n" not in err
