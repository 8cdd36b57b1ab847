"""The web API through FastAPI's test client: every endpoint; every bad request gets a 4xx with one line."""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from datahelpers import read_mnist  # noqa: E402
from nnscratch import DeepNeuralNetwork  # noqa: E402
from nnscratch.images.preprocess import preprocess_image  # noqa: E402
from nnscratch.models import DEFAULT_MODEL  # noqa: E402
from nnscratch.web import create_app  # noqa: E402
from nnscratch.web.model import load_model  # noqa: E402

STATIC_IDS = ('id="draw"', 'id="prediction"', 'id="probabilities"', 'id="clear"')


@pytest.fixture(scope="module")
def client(mnist_path, tmp_path_factory):
    home = tmp_path_factory.mktemp("web-data")
    app = create_app(
        data_dir=mnist_path, corrections_dir=home / "corrections", models_dir=home / "models", seed=0
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def mnist_digits(mnist_path):
    return read_mnist(mnist_path, "t10k", 20)


def png_bytes(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def stroke_png(size: int = 280) -> bytes:
    im = Image.new("L", (size, size))
    ImageDraw.Draw(im).line([(size // 2, size // 7), (size // 2, 6 * size // 7)], fill=255, width=size // 13)
    return png_bytes(im)


def refused(response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail
    return detail


def test_healthz_and_model(client):
    assert client.get("/healthz").json() == {"status": "ok", "model": "default.npz"}
    info = client.get("/api/model").json()
    net = DeepNeuralNetwork.load(DEFAULT_MODEL)
    assert info["default"] is True and info["name"] == "default.npz"
    assert info["sizes"] == [784, 128, 64, 10] and info["activation"] == "sigmoid"
    assert info["test_accuracy"] == net.metadata["test_accuracy"]
    assert info["epochs"] == 10


def test_predict_pixels_matches_the_network(client, mnist_digits):
    images, labels = mnist_digits
    net = DeepNeuralNetwork.load(DEFAULT_MODEL)
    for i in range(5):
        x = images[i] / 255.0
        flat = client.post("/api/predict", json={"pixels": x.ravel().tolist()})
        rows = client.post("/api/predict", json={"pixels": x.tolist()})
        assert flat.status_code == rows.status_code == 200
        body = flat.json()
        assert body == rows.json()
        expected = net.predict_proba(preprocess_image(x).reshape(1, -1))[0]
        np.testing.assert_allclose(body["probabilities"], expected, atol=2e-6)
        assert body["digit"] == int(np.argmax(expected)) == labels[i]
        assert abs(sum(body["probabilities"]) - 1) < 1e-4
        np.testing.assert_allclose(body["input"], x, atol=6e-4)  # MNIST digits come back unchanged
        saliency = np.asarray(body["saliency"])
        assert saliency.shape == (28, 28) and np.abs(saliency).max() == pytest.approx(1.0)
        gradient = net.input_gradient(preprocess_image(x).ravel(), body["digit"])
        np.testing.assert_allclose(
            saliency.ravel() * body["saliency_scale"], gradient, atol=1e-3 * body["saliency_scale"]
        )
        assert [len(h) for h in body["hidden"]] == [128, 64]
        assert body["model"] == "default.npz"


def test_predict_uploaded_image_uses_the_same_preprocessing(client, mnist_digits):
    images, labels = mnist_digits
    photo = Image.fromarray(255 - images[3]).resize((200, 200), Image.Resampling.BICUBIC)
    data = png_bytes(photo)
    body = client.post("/api/predict", files={"image": ("digit.png", data, "image/png")}).json()
    net = DeepNeuralNetwork.load(DEFAULT_MODEL)
    expected = net.predict_proba(preprocess_image(data).reshape(1, -1))[0]
    np.testing.assert_allclose(body["probabilities"], expected, atol=2e-6)
    assert body["digit"] == labels[3]
    jpeg = png_bytes(photo.convert("RGB"), "JPEG")
    assert (
        client.post("/api/predict", files={"image": ("d.jpg", jpeg, "image/jpeg")}).json()["digit"]
        == labels[3]
    )


def test_a_vertical_stroke_drawn_on_the_page_canvas_reads_one(client):
    body = client.post("/api/predict", files={"image": ("drawing.png", stroke_png(), "image/png")}).json()
    assert body["digit"] == 1


@pytest.mark.parametrize(
    ("pixels", "reason"),
    [
        ([0.5] * 3, "784 numbers"),
        ([0.5] * 785, "784 numbers"),
        ([[0.5] * 28] * 27, "28 rows"),
        ([[0.5] * 28] * 27 + [[0.5] * 27], "row 27 has 27"),
        (["a"] + [0.5] * 783, "not a number"),
        ([None] + [0.5] * 783, "not a number"),
        ([True] + [0.5] * 783, "not a number"),
        ([{"v": 1}] + [0.5] * 783, "not a number"),
        ([-0.1] + [0.5] * 783, "outside 0..1"),
        ([0.5] * 783 + [1.5], "outside 0..1"),
        ([0.0] * 784, "empty"),
        ("pixels", "must be a list"),
        (7, "must be a list"),
    ],
)
def test_bad_pixels_are_refused(client, pixels, reason):
    assert reason in refused(client.post("/api/predict", json={"pixels": pixels}), 422)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_refused(client, literal):
    body = '{"pixels": [' + ", ".join([literal] + ["0.5"] * 783) + "]}"
    response = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    assert "finite" in refused(response, 422)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe", 400, "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "not valid JSON"),
        (b"[1, 2, 3]", 422, '{"pixels"'),
        (b'{"pixel": []}', 422, '{"pixels"'),
    ],
)
def test_malformed_json_is_refused(client, body, status, reason):
    response = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    assert reason in refused(response, status)


def test_images_that_are_not_images_or_are_empty(client):
    def upload(data, name="x.png", field="image"):
        return client.post("/api/predict", files={field: (name, data, "image/png")})

    assert "not an image" in refused(upload(b"this is text, not a picture"), 422)
    assert "empty" in refused(upload(b""), 422)
    assert "empty" in refused(upload(png_bytes(Image.new("L", (280, 280)))), 422)  # a blank canvas
    assert "empty" in refused(upload(png_bytes(Image.new("RGB", (50, 50), "white"))), 422)
    truncated = stroke_png()[:200]
    assert refused(upload(truncated), 422)
    assert '"image"' in refused(upload(stroke_png(), field="picture"), 422)
    response = client.post("/api/predict", data={"image": "not a file"}, files={"other": ("a", b"b")})
    assert '"image"' in refused(response, 422)


def test_decompression_bombs_are_refused_before_decoding(client):
    bomb = png_bytes(Image.new("L", (10_000, 10_000)))  # 100 megapixels in about 100 kB
    assert len(bomb) < 200_000
    assert "megapixels" in refused(client.post("/api/predict", files={"image": ("b.png", bomb)}), 413)
    huge = png_bytes(Image.new("1", (20_000, 10_000)))  # past Pillow's own bomb limit too
    assert refused(client.post("/api/predict", files={"image": ("b.png", huge)}), 413)


def test_bodies_over_the_cap_are_refused(client):
    big = b"0" * (5 * 1024 * 1024 + 1)
    declared = client.post("/api/predict", content=big, headers={"content-type": "application/json"})
    assert "5 MB" in refused(declared, 413)

    def chunks():  # no Content-Length: the body arrives chunked and is cut off at the cap
        for _ in range(6):
            yield b"0" * (1024 * 1024)

    streamed = client.post("/api/predict", content=chunks(), headers={"content-type": "application/json"})
    assert "5 MB" in refused(streamed, 413)
    photo = client.post("/api/predict", files={"image": ("big.png", big, "image/png")})
    assert "5 MB" in refused(photo, 413)


def test_wrong_content_type_and_method(client):
    response = client.post("/api/predict", content=b"abc", headers={"content-type": "text/plain"})
    assert "multipart" in refused(response, 415)
    assert refused(client.post("/api/predict"), 415)
    assert refused(client.get("/api/predict"), 405)
    assert refused(client.get("/api/nothing-here"), 404)


def test_test_digit(client, mnist_digits):
    images, labels = mnist_digits
    body = client.get("/api/test-digit", params={"index": 4}).json()
    assert body["index"] == 4 and body["label"] == labels[4]
    np.testing.assert_allclose(body["input"], images[4] / 255.0, atol=6e-4)
    assert body["digit"] == labels[4]
    seen = {client.get("/api/test-digit").json()["index"] for _ in range(5)}
    assert len(seen) > 1 and all(0 <= i < 10_000 for i in seen)
    assert "0..9999" in refused(client.get("/api/test-digit", params={"index": 10_000}), 422)
    assert "index" in refused(client.get("/api/test-digit", params={"index": -1}), 422)
    assert "index" in refused(client.get("/api/test-digit", params={"index": "seven"}), 422)


def test_test_digit_without_local_data_is_a_404(isolated_cache, tmp_path):
    with TestClient(create_app(data_dir=tmp_path / "nowhere")) as c:
        assert "--data-dir" in refused(c.get("/api/test-digit"), 404)


def test_page_and_static_files_load_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for hook in STATIC_IDS:
        assert hook in page.text
    for name in ("app.js", "teach.js", "app.css"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        assert "http://" not in response.text and "https://" not in response.text
    assert "http://" not in page.text and "https://" not in page.text
    assert "touch-action: none" in client.get("/static/app.css").text
    assert client.get("/docs").status_code == 404  # FastAPI's docs page would load a CDN's scripts
    schema = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/model", "/api/test-digit", "/healthz"} <= set(schema["paths"])


def test_model_swaps_atomically_under_load(client, tmp_path):
    holder = client.app.state.holder
    other_path = tmp_path / "other.npz"
    net = DeepNeuralNetwork(sizes=[784, 16, 10], seed=1)
    net.save(other_path)
    other = load_model(other_path)
    answers: list[tuple[int, str]] = []
    pixels = json.dumps({"pixels": (np.linspace(0, 1, 784) ** 4).tolist()})

    def ask():
        for _ in range(15):
            r = client.post("/api/predict", content=pixels, headers={"content-type": "application/json"})
            answers.append((r.status_code, r.json()["model"], len(r.json()["hidden"][0])))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(10):
        holder.swap(other)
        holder.revert()
    holder.swap(other)
    for t in threads:
        t.join()
    try:
        assert client.get("/api/model").json()["name"] == "other.npz"
        assert {(200, "other.npz", 16), (200, "default.npz", 128)} >= set(answers)
    finally:
        holder.revert()
    assert client.get("/api/model").json()["name"] == "default.npz"


def test_a_model_that_cannot_read_28x28_images_is_refused(tmp_path):
    from nnscratch.errors import ModelFileError

    DeepNeuralNetwork(sizes=[10, 4, 3], seed=0).save(tmp_path / "small.npz")
    with pytest.raises(ModelFileError, match="784"):
        create_app(tmp_path / "small.npz")


def test_multipart_abuse_is_refused(client):
    two_files = [
        ("image", ("a.png", stroke_png(), "image/png")),
        ("image", ("b.png", stroke_png(), "image/png")),
    ]
    assert refused(client.post("/api/predict", files=two_files), 400)
    broken = b"--xyz\r\nContent-Disposition: form-data; name=image\r\n\r\nabc"  # never closed
    response = client.post(
        "/api/predict", content=broken, headers={"content-type": "multipart/form-data; boundary=xyz"}
    )
    assert '"image"' in refused(response, 422)  # the unfinished part is dropped, so no image arrived
    no_boundary = client.post("/api/predict", content=b"abc", headers={"content-type": "multipart/form-data"})
    assert "could not be parsed" in refused(no_boundary, 400)


def test_the_body_cap_is_configurable(tmp_path):
    app = create_app(corrections_dir=tmp_path / "c", models_dir=tmp_path / "m", max_body_bytes=1000)
    with TestClient(app) as c:
        assert "1000 bytes" in refused(c.post("/api/predict", files={"image": ("a.png", b"x" * 2000)}), 413)
        assert c.post("/api/predict", files={"image": ("a.png", stroke_png(140))}).status_code == 200
