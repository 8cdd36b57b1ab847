"""A made-up handwriting: one consistent, unusual style of the ten digits, drawn with Pillow strokes.

Used by the fine-tuning tests and by ``benchmarks/tune_finetune.py`` / ``bench_finetune.py`` as "a
user whose handwriting MNIST did not contain". The style, fixed for every digit:

* 0 slashed (a diagonal through the oval), 1 continental (a long up-hook and a foot),
* 2 with a flat base (and a small curl), 3 with a flat top (like a ``Z`` over a bowl),
* 4 closed (a triangle), 5 with a long flag, 6 with a straight diagonal stem,
* 7 crossed with a serif, 8 two separate stacked loops (a snowman), 9 a loop with a straight tail,

written with a backward slant (``SLANT``); ``python tests/handwriting.py OUT.png`` draws a sample
sheet. Each sample jitters the position, size, aspect, slant, rotation and
stroke thickness, and wobbles every point a little, from the given ``np.random.Generator``: the same
seed gives the same pictures. Pictures are dark ink on white paper (like a scan or a drawing), at any
size; :func:`nnscratch.images.preprocess.preprocess_image` turns them into MNIST-style 28x28 digits.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

Point = tuple[float, float]


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> list[Point]:
    """Points on an ellipse from angle a0 to a1 (degrees; 0 = right, 90 = down, as on screen)."""
    t = np.radians(np.linspace(a0, a1, n))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in t]


#: Each digit as strokes (polylines) in a unit box: x to the right, y down.
STROKES: dict[int, list[list[Point]]] = {
    0: [_arc(0.5, 0.5, 0.32, 0.46, 0, 360, 40), [(0.25, 0.85), (0.75, 0.15)]],
    1: [[(0.22, 0.42), (0.62, 0.04), (0.62, 0.96)], [(0.38, 0.96), (0.86, 0.96)]],
    2: [
        _arc(0.5, 0.3, 0.3, 0.26, 190, 380, 16)
        + [(0.3, 0.78)]
        + _arc(0.24, 0.84, 0.09, 0.09, 300, 20, 12)
        + [(0.85, 0.92)]
    ],
    3: [[(0.18, 0.05), (0.8, 0.05), (0.42, 0.42)] + _arc(0.45, 0.66, 0.34, 0.27, -90, 150, 20)],
    4: [[(0.66, 0.05), (0.12, 0.64), (0.88, 0.64)], [(0.66, 0.05), (0.66, 0.97)]],
    5: [
        [(0.3, 0.06), (0.24, 0.45)] + _arc(0.46, 0.68, 0.32, 0.27, -125, 150, 20),
        [(0.3, 0.05), (0.92, 0.02)],
    ],
    6: [[(0.72, 0.02), (0.26, 0.62)], _arc(0.48, 0.73, 0.24, 0.22, 180, 540, 28)],
    7: [[(0.1, 0.2), (0.14, 0.05), (0.88, 0.05), (0.4, 0.97)], [(0.3, 0.52), (0.82, 0.5)]],
    8: [_arc(0.5, 0.24, 0.2, 0.2, 0, 360, 24), _arc(0.5, 0.7, 0.3, 0.27, 0, 360, 30)],
    9: [_arc(0.48, 0.28, 0.27, 0.24, 0, 360, 28), [(0.75, 0.28), (0.75, 0.98)]],
}

#: The style's mean slant in degrees (negative: leaning backwards).
SLANT = -24.0


def _transform(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """A random affine map (matrix, offset) from the unit box to the canvas, and a stroke width."""
    slant = math.radians(SLANT + rng.uniform(-6, 6))
    angle = math.radians(rng.uniform(-6, 6))
    height = size * rng.uniform(0.45, 0.8)
    width = height * rng.uniform(0.5, 0.75)
    shear = np.array([[1.0, -math.tan(slant)], [0.0, 1.0]])
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    matrix = rot @ shear @ np.diag([width, height])
    centre = size / 2 + rng.uniform(-0.12, 0.12, 2) * size
    offset = centre - matrix @ np.array([0.5, 0.5])
    thickness = max(2.0, height * rng.uniform(0.07, 0.12))
    return matrix, offset, thickness


def draw_digit(digit: int, rng: np.random.Generator, size: int = 128):
    """One picture (a PIL ``L`` image, dark ink on white) of ``digit`` in the style, jittered."""
    from PIL import Image, ImageDraw

    matrix, offset, thickness = _transform(rng, size)
    image = Image.new("L", (size, size), color=int(rng.integers(225, 256)))
    draw = ImageDraw.Draw(image)
    ink = int(rng.integers(0, 50))
    wobble = 0.015
    for stroke in STROKES[digit]:
        pts = np.asarray(stroke) + rng.normal(0.0, wobble, (len(stroke), 2))
        xy = pts @ matrix.T + offset
        points = [tuple(p) for p in xy]
        draw.line(points, fill=ink, width=int(round(thickness)), joint="curve")
        r = thickness / 2
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)
    return image


def style_pictures(n_per_class: int, seed: int, size: int = 128) -> tuple[list, np.ndarray]:
    """``n_per_class`` pictures of each digit 0–9 (PIL images) and their labels, from ``seed``."""
    rng = np.random.default_rng(seed)
    pictures, labels = [], []
    for _ in range(n_per_class):
        for digit in range(10):
            pictures.append(draw_digit(digit, rng, size))
            labels.append(digit)
    return pictures, np.asarray(labels, dtype=np.int64)


def style_digits(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The style as MNIST-like digits: (n, 28, 28) float32 through ``preprocess_image``, and labels."""
    from nnscratch.images.preprocess import preprocess_image

    pictures, labels = style_pictures(n_per_class, seed)
    return np.stack([preprocess_image(p) for p in pictures]), labels


def write_style_dir(root: str | Path, n_per_class: int, seed: int) -> Path:
    """Write the style as ``root/<digit>/<i>.png`` (the layout ``nnscratch finetune`` reads)."""
    root = Path(root)
    pictures, labels = style_pictures(n_per_class, seed)
    for i, (picture, label) in enumerate(zip(pictures, labels, strict=True)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        picture.save(folder / f"{i:04d}.png")
    return root


def style_sheet(path: str | Path, n_per_class: int = 4, seed: int = 2000, size: int = 96) -> Path:
    """A PNG contact sheet of the style: one column per digit, ``n_per_class`` rows."""
    from PIL import Image

    pictures, _ = style_pictures(n_per_class, seed, size)
    sheet = Image.new("L", (size * 10, size * n_per_class))
    for i, picture in enumerate(pictures):
        sheet.paste(picture, ((i % 10) * size, (i // 10) * size))
    sheet.save(path, optimize=True)
    return Path(path)


if __name__ == "__main__":  # python tests/handwriting.py docs/finetune_style.png
    import sys

    print(style_sheet(sys.argv[1] if len(sys.argv) > 1 else "finetune_style.png"))
