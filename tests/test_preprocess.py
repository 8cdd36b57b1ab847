"""The shared image preprocessing: user pictures become MNIST-like 28×28 inputs, bad files fail clearly."""

from __future__ import annotations

import gzip
import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from nnscratch.errors import ImageError, NNScratchError
from nnscratch.images import preprocess
from nnscratch.images.preprocess import load_images, preprocess_image

Image = pytest.importorskip("PIL.Image")
ImageDraw = pytest.importorskip("PIL.ImageDraw")

ROWS = np.arange(28)


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    mass = img.sum()
    return float((img.sum(axis=1) * ROWS).sum() / mass), float((img.sum(axis=0) * ROWS).sum() / mass)


def ink_extent(img: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def draw_four(size: int = 200, offset: tuple[int, int] = (0, 0), width: int = 14):
    """A thick '4' (polyline strokes) in the upper-left part of the canvas, shifted by ``offset``."""
    dx, dy = offset

    def strokes(draw, fill):
        draw.line([(30 + dx, 15 + dy), (15 + dx, 80 + dy), (75 + dx, 80 + dy)], fill=fill, width=width)
        draw.line([(60 + dx, 40 + dy), (60 + dx, 125 + dy)], fill=fill, width=width)

    return strokes


def dark_on_light(offset=(0, 0)) -> Image.Image:
    im = Image.new("RGB", (200, 200), "white")
    draw_four(offset=offset)(ImageDraw.Draw(im), "black")
    return im


def light_on_dark(offset=(0, 0)) -> Image.Image:
    im = Image.new("L", (200, 200), 0)
    draw_four(offset=offset)(ImageDraw.Draw(im), 255)
    return im


def ink_in_alpha(colour=(0, 0, 0, 255), offset=(0, 0)) -> Image.Image:
    im = Image.new("RGBA", (200, 200), (0, 0, 0, 0))  # fully transparent background
    draw_four(offset=offset)(ImageDraw.Draw(im), colour)
    return im


def assert_mnist_like(out: np.ndarray) -> None:
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() == pytest.approx(1.0)
    # light on dark: the border (where MNIST is black) is empty
    assert out[0].max() == out[-1].max() == out[:, 0].max() == out[:, -1].max() == 0.0
    # centre of mass within 0.5 px of index 14, the MNIST convention (see the module docstring): the
    # integer shift that places it moves it by at most half a pixel
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14.0) <= 0.5 and abs(cx - 14.0) <= 0.5
    # the ink was fitted into the 20×20 box with its longer side filling it
    h, w = ink_extent(out)
    assert max(h, w) in (19, 20) and h <= 20 and w <= 20


@pytest.mark.parametrize("make", [dark_on_light, light_on_dark, ink_in_alpha], ids=["dark", "light", "alpha"])
def test_synthetic_digit_becomes_mnist_like(make) -> None:
    out = preprocess_image(make())
    assert_mnist_like(out)
    # the '4' is taller than wide (aspect ratio kept): 20 rows, fewer columns
    h, w = ink_extent(out)
    assert h == 20 and 11 <= w <= 16


def test_all_variants_agree_and_position_does_not_matter() -> None:
    reference = preprocess_image(light_on_dark())
    for im in (
        dark_on_light(),
        ink_in_alpha(),
        ink_in_alpha(colour=(255, 255, 255, 255)),  # white ink on transparent: the alpha is the digit
        dark_on_light(offset=(110, 70)),  # far off-centre, bottom right
    ):
        out = preprocess_image(im)
        assert np.abs(out - reference).mean() < 0.02
        assert np.abs(out - reference).max() < 0.25
    # a digit drawn elsewhere lands in the same place
    assert centre_of_mass(preprocess_image(dark_on_light(offset=(110, 70)))) == pytest.approx(
        centre_of_mass(reference), abs=0.3
    )


def test_all_input_kinds_give_the_same_result(tmp_path: Path) -> None:
    im = dark_on_light(offset=(40, 30))
    path = tmp_path / "four.png"
    im.save(path)
    reference = preprocess_image(path)
    rgba_float = np.dstack([np.asarray(im, dtype=np.float64) / 255.0, np.ones((200, 200))])
    for other in (
        str(path),
        path.read_bytes(),
        im,
        np.asarray(im),  # uint8 RGB
        np.asarray(im.convert("L")),  # uint8 grey
        np.asarray(im.convert("L"), dtype=np.float32) / 255.0,  # float grey
        rgba_float,
    ):
        assert np.abs(preprocess_image(other) - reference).max() < 0.02


def test_16_bit_and_palette_images(tmp_path: Path) -> None:
    reference = preprocess_image(dark_on_light())
    grey = np.asarray(dark_on_light().convert("L"), dtype=np.uint16)
    deep = tmp_path / "deep.png"
    Image.fromarray(grey * 257).save(deep)  # 16-bit grey PNG
    with Image.open(deep) as im:
        assert im.mode.startswith("I")
    assert np.abs(preprocess_image(deep) - reference).max() < 0.02
    dim = Image.fromarray((grey // 2).astype(np.uint16))  # a dark 16-bit picture is not 8-bit
    assert "contains no ink" in _error(dim)
    palette = tmp_path / "palette.gif"
    dark_on_light().convert("P").save(palette)
    assert np.abs(preprocess_image(palette) - reference).max() < 0.02


def test_missing_pillow_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes "from PIL import Image" fail
    message = _error(np.zeros((28, 28)))
    assert "needs Pillow" in message and "pip install 'nnscratch[plots]'" in message


def test_noise_and_specks_are_ignored(rng: np.random.Generator) -> None:
    reference = preprocess_image(dark_on_light(offset=(40, 30)))
    arr = np.asarray(dark_on_light(offset=(40, 30)).convert("L"), dtype=np.float64) / 255.0
    arr = arr * 0.8 + 0.1  # grey paper, not-quite-black ink
    arr = np.clip(arr + rng.normal(0.0, 0.02, arr.shape), 0.0, 1.0)  # sensor noise
    arr[185:189, 5:9] = 0.1  # a speck of dust in a corner, away from the digit
    out = preprocess_image(arr)
    assert_mnist_like(out)
    assert np.abs(out - reference).mean() < 0.03


def test_real_mnist_digits_round_trip_nearly_unchanged(mnist_path: Path) -> None:
    raw = gzip.open(mnist_path / "t10k-images-idx3-ubyte.gz").read(16 + 500 * 784)
    digits = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(500, 28, 28)
    diffs = np.array([np.abs(preprocess_image(d) - d / 255.0).max() for d in digits])
    # already 20 px, centred by mass: only the rescaling of a 254 peak to 1.0 changes anything
    assert np.mean(diffs <= 1.5 / 255) >= 0.99
    assert np.median(diffs) < 0.005


def test_tiny_and_wide_inputs() -> None:
    dot = np.zeros((5, 5), dtype=np.uint8)
    dot[2, 2] = 255
    out = preprocess_image(dot)  # a single pixel blown up to the box, as MNIST would
    assert_mnist_like(out)
    dash = np.full((60, 300), 255, dtype=np.uint8)
    dash[25:35, 20:280] = 0
    h, w = ink_extent(preprocess_image(dash))
    assert w == 20 and h <= 2


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height pixels (Pillow reads sizes without decoding)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def _error(image, **kwargs) -> str:
    with pytest.raises(ImageError) as info:
        preprocess_image(image, **kwargs)
    assert isinstance(info.value, NNScratchError)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_error_messages_are_specific(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n")
    assert "'" + str(text) + "' is not an image file" in _error(text)

    missing = tmp_path / "missing.png"
    assert str(missing) in _error(missing) and "does not exist" in _error(missing)
    assert "is a folder" in _error(tmp_path)

    good = io.BytesIO()
    dark_on_light().save(good, format="PNG")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    message = _error(truncated)
    assert "cut.png" in message and "damaged or truncated" in message

    blank = tmp_path / "blank.png"
    Image.new("RGB", (64, 64), (200, 200, 200)).save(blank)
    message = _error(blank)
    assert "blank.png" in message and "contains no ink" in message
    assert "contains no ink" in _error(np.zeros((28, 28)))
    assert "contains no ink" in _error(Image.new("RGBA", (40, 40), (0, 0, 0, 0)))

    assert "shape (3, 28, 28)" in _error(np.zeros((3, 28, 28)))
    assert "NaN" in _error(np.full((28, 28), np.nan))
    assert "outside" in _error(-np.ones((28, 28)))
    assert "cannot use dict" in _error({"not": "an image"})
    assert "my-upload" in _error(b"garbage", name="my-upload")


def test_enormous_images_are_refused_before_decoding(tmp_path: Path, monkeypatch) -> None:
    # 9000×9000 = 81 MP: under Pillow's own warning limit, over ours; never decoded (the file is tiny)
    big = tmp_path / "big.png"
    big.write_bytes(_png_header(9000, 9000))
    message = _error(big)
    assert "big.png" in message and "81 megapixels" in message and "decompression bomb" in message
    # 100000×100000: Pillow itself refuses it while reading the header
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(100_000, 100_000))
    message = _error(bomb)
    assert "bomb.png" in message and "decompression bomb" in message
    # arrays and PIL images obey the same limit
    monkeypatch.setattr(preprocess, "MAX_PIXELS", 1000)
    assert "megapixels" in _error(np.zeros((50, 50)))
    assert "megapixels" in _error(Image.new("L", (50, 50)))


def test_folder_with_a_bad_file_continues(tmp_path: Path) -> None:
    folder = tmp_path / "digits"
    folder.mkdir()
    dark_on_light().save(folder / "a.png")
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    dark_on_light(offset=(60, 40)).save(folder / "c.jpg")
    (folder / "readme.txt").write_text("ignored: not an image extension")
    (folder / "sub").mkdir()
    Image.new("RGB", (30, 30), "white").save(tmp_path / "blank.bmp")
    results = list(load_images([folder, tmp_path / "blank.bmp", tmp_path / "nope.png"]))
    names = [path.name for path, _ in results]
    assert names == ["a.png", "b.png", "c.jpg", "blank.bmp", "nope.png"]
    kinds = [isinstance(result, ImageError) for _, result in results]
    assert kinds == [False, True, False, True, True]
    assert "b.png" in str(results[1][1]) and "no ink" in str(results[3][1])
    assert np.abs(results[0][1] - results[2][1]).mean() < 0.03  # JPEG artefacts barely matter
    empty = tmp_path / "empty"
    empty.mkdir()
    ((path, error),) = list(load_images(empty))
    assert path == empty and "contains no image files" in str(error)
