"""Teaching the web app the user's handwriting: corrections, "Teach it", undo (issue 12's API)."""

from __future__ import annotations

import errno
import io
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from datahelpers import read_mnist  # noqa: E402
from nnscratch import DeepNeuralNetwork  # noqa: E402
from nnscratch.images.folders import read_labelled_dir  # noqa: E402
from nnscratch.web import corrections as corrections_module  # noqa: E402
from nnscratch.web import create_app  # noqa: E402


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def stroke() -> bytes:
    im = Image.new("L", (140, 140))
    ImageDraw.Draw(im).line([(70, 20), (70, 120)], fill=255, width=11)
    buffer = io.BytesIO()
    im.save(buffer, "PNG")
    return buffer.getvalue()


def refused(response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    return detail


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path


@pytest.fixture
def client(mnist_path, home):
    app = create_app(
        data_dir=mnist_path, corrections_dir=home / "corrections", models_dir=home / "models", seed=0
    )
    with TestClient(app) as c:
        yield c


def correct(client, data: bytes, label) -> object:
    return client.post(
        "/api/corrections", files={"image": ("c.png", data, "image/png")}, data={"label": str(label)}
    )


def wait(client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/finetune/{job_id}").json()
        if job["status"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError("the fine-tune did not finish")


def test_corrections_are_saved_as_the_finetune_layout_with_server_names(client, home, mnist_path):
    empty = client.get("/api/corrections").json()
    assert empty["total"] == 0 and empty["counts"] == {str(d): 0 for d in range(10)}
    images, labels = read_mnist(mnist_path, "train", 3)
    for image, label in zip(images, labels, strict=True):
        response = correct(client, png(255 - image), label)
        assert response.status_code == 201, response.text
    body = response.json()
    assert body["total"] == 3 and body["counts"][str(labels[2])] >= 1
    digit, name = body["saved"].split("/")
    assert digit == str(labels[2]) and re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}\.png", name), (
        name
    )  # not "c.png"
    assert client.get("/api/corrections").json()["counts"] == body["counts"]
    read = read_labelled_dir(home / "corrections")  # what `nnscratch finetune DIR` reads
    assert sorted(read.labels.tolist()) == sorted(labels.tolist()) and not read.skipped


@pytest.mark.parametrize(
    ("label", "status", "reason"),
    [("x", 422, "0..9"), ("10", 422, "0..9"), ("-1", 422, "0..9"), ("", 422, "0..9")],
)
def test_bad_labels(client, label, status, reason):
    assert reason in refused(correct(client, stroke(), label), status)


def test_bad_correction_requests(client):
    assert "not an image" in refused(correct(client, b"hello", 3), 422)
    assert "empty" in refused(correct(client, png(np.zeros((140, 140), np.uint8)), 3), 422)
    no_label = client.post("/api/corrections", files={"image": ("c.png", stroke(), "image/png")})
    assert '"label"' in refused(no_label, 422)
    no_image = client.post("/api/corrections", data={"label": "3"}, files={"x": ("a", b"b")})
    assert '"image"' in refused(no_image, 422)
    as_json = client.post("/api/corrections", json={"label": 3})
    assert "multipart" in refused(as_json, 415)
    assert client.get("/api/corrections").json()["total"] == 0


def test_caps_on_count_and_size(mnist_path, home, monkeypatch):
    app = create_app(
        data_dir=mnist_path, corrections_dir=home / "c", models_dir=home / "m", max_corrections=2
    )
    with TestClient(app) as c:
        assert correct(c, stroke(), 1).status_code == 201
        assert correct(c, stroke(), 1).status_code == 201
        assert "full" in refused(correct(c, stroke(), 1), 409)
        monkeypatch.setattr(app.state.corrections, "max_bytes", 100)
        assert "at most 100 bytes" in refused(correct(c, stroke(), 2), 413)
        assert c.get("/api/corrections").json()["total"] == 2


@pytest.mark.parametrize(
    ("code", "status", "reason"), [(errno.EROFS, 403, "read-only"), (errno.ENOSPC, 409, "full")]
)
def test_a_folder_that_cannot_be_written_is_a_4xx(client, monkeypatch, code, status, reason):
    def fail(path, write):
        raise OSError(code, "simulated")

    monkeypatch.setattr(corrections_module, "atomic_write", fail)
    assert reason in refused(correct(client, stroke(), 1), status)


def test_teach_it_with_the_real_finetune(client, home, mnist_path):
    images, labels = read_mnist(mnist_path, "train", 8)
    for image, label in zip(images, labels, strict=True):
        assert correct(client, png(255 - image), label).status_code == 201
    started = client.post("/api/finetune")
    assert started.status_code == 202
    job = wait(client, started.json()["id"])
    result = job["result"]
    assert result["mnist_test"]["before"] == pytest.approx(0.9796)
    assert result["mnist_test"]["after"] is not None
    assert sum(result["digits_per_class"].values()) == 8
    assert job["status"] in ("done", "refused"), job
    if job["status"] == "refused":  # MNIST would have been forgotten: nothing saved, nothing swapped
        assert job["saved"] is None and "0.5" in job["error"]
        assert client.get("/api/model").json()["default"] is True
    else:
        assert Path(job["saved"]).exists() and job["model"]["finetuned_from"] == "default.npz"
        assert client.get("/api/model").json()["test_accuracy"] == result["mnist_test"]["after"]


class Gate:
    """A stand-in for the fine-tune that waits until released, then returns a fixed result."""

    def __init__(self, accepted: bool = True) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.accepted = accepted

    def __call__(self, net, images, labels, *, progress, **kwargs):
        from nnscratch.training.finetune import FinetuneResult

        progress(0.5)
        self.entered.set()
        assert self.release.wait(30)
        tuned = DeepNeuralNetwork.load(kwargs["source"])
        tuned.params["b3"] = tuned.params["b3"] + 0.5  # a different network, saved and swapped in
        tuned.metadata["finetune"] = {"from": {"file": Path(kwargs["source"]).name}}
        tuned.metadata["test_accuracy"] = 0.95
        reason = "ok" if self.accepted else "refused: MNIST test accuracy would drop by 3 points"
        return FinetuneResult(
            network=tuned, accepted=self.accepted, reason=reason, test_before=0.98, test_after=0.95
        )


def test_second_finetune_is_409_and_predictions_are_answered_meanwhile(client):
    gate = Gate()
    client.app.state.jobs.tune = gate
    assert correct(client, stroke(), 1).status_code == 201
    first = client.post("/api/finetune").json()
    assert gate.entered.wait(30)
    running = client.get(f"/api/finetune/{first['id']}").json()
    assert running["status"] == "running" and running["progress"] == 0.5
    assert "already running" in refused(client.post("/api/finetune"), 409)
    answer = client.post("/api/predict", files={"image": ("d.png", stroke(), "image/png")})
    assert answer.status_code == 200 and answer.json()["model"] == "default.npz"
    gate.release.set()
    assert wait(client, first["id"])["status"] == "done"
    assert client.post("/api/finetune").status_code == 202  # the next one may start now
    gate2 = Gate()
    client.app.state.jobs.tune = gate2


def test_a_refused_finetune_changes_nothing(client, home):
    gate = Gate(accepted=False)
    gate.release.set()
    client.app.state.jobs.tune = gate
    assert correct(client, stroke(), 1).status_code == 201
    job = wait(client, client.post("/api/finetune").json()["id"])
    assert job["status"] == "refused" and "drop" in job["error"] and job["saved"] is None
    assert client.get("/api/model").json()["default"] is True
    assert not (home / "models").exists()


def test_finetune_without_corrections_or_data_and_unknown_jobs(client, home, isolated_cache):
    assert "no corrections" in refused(client.post("/api/finetune"), 422)
    assert refused(client.get("/api/finetune/nope"), 404)
    app = create_app(data_dir=home / "nowhere", corrections_dir=home / "c2", models_dir=home / "m2")
    with TestClient(app) as c:
        assert correct(c, stroke(), 1).status_code == 201
        assert "--data-dir" in refused(c.post("/api/finetune"), 404)


def test_a_failing_finetune_is_reported_and_the_server_keeps_answering(client):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    client.app.state.jobs.tune = broken
    assert correct(client, stroke(), 1).status_code == 201
    job = wait(client, client.post("/api/finetune").json()["id"])
    assert job["status"] == "failed" and "RuntimeError" in job["error"]
    assert client.get("/healthz").status_code == 200


def test_an_accepted_finetune_is_saved_swapped_and_undone(client, home):
    gate = Gate(accepted=True)
    gate.release.set()
    client.app.state.jobs.tune = gate
    assert correct(client, stroke(), 1).status_code == 201
    job = wait(client, client.post("/api/finetune").json()["id"])
    assert job["status"] == "done", job
    saved = Path(job["saved"])
    assert saved.parent == home / "models" and saved.exists() and saved.name.startswith("finetuned-")
    info = client.get("/api/model").json()
    assert info["name"] == saved.name and info["finetuned_from"] == "default.npz" and info["default"] is False
    assert info["test_accuracy"] == 0.95 and job["model"]["name"] == saved.name
    answer = client.post("/api/predict", files={"image": ("d.png", stroke(), "image/png")}).json()
    assert answer["model"] == saved.name
    np.testing.assert_allclose(
        DeepNeuralNetwork.load(saved).params["b3"], client.app.state.holder.current.net.params["b3"]
    )
    reverted = client.post("/api/model/revert").json()
    assert reverted["name"] == "default.npz" and client.get("/api/model").json()["default"] is True
    assert (
        client.post("/api/predict", files={"image": ("d.png", stroke(), "image/png")}).json()["model"]
        == "default.npz"
    )
