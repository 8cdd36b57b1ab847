"""Synthetic phone photos of handwritten digits, for testing (and tuning) the picture preprocessing.

A photo is made the way a camera makes one: a *reflectance* picture (paper colour, optional ruled
lines, the digit's strokes in pen or pencil) times an *illumination* field (dim, a gradient across the
page, vignetting towards the corners), blurred by the lens, plus sensor noise, saved as a JPEG. Every
random choice comes from the ``np.random.Generator`` of the seed given, so a scene is reproducible.

The tests use :data:`TEST_SEED`; the thresholds of :mod:`nnscratch.images.preprocess` were chosen on
scenes made with :data:`TUNING_SEED` (``benchmarks/tune_preprocess.py``), never on the test pictures.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

TEST_SEED = 2026
TUNING_SEED = 7


def _arc(cx, cy, rx, ry, start, stop, n=24):
    """Points of an elliptic arc, angles in degrees (0 = right, 90 = down, as on screen)."""
    t = np.deg2rad(np.linspace(start, stop, n))
    return [(cx + rx * math.cos(a), cy + ry * math.sin(a)) for a in t]


#: Each digit as polylines in a unit box (x right, y down), shaped like typical MNIST digits.
GLYPHS: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.3, 0.45, 0, 360, 48)],
    1: [[(0.55, 0.02), (0.45, 0.98)]],
    2: [_arc(0.5, 0.3, 0.3, 0.28, 190, 380) + [(0.15, 0.97), (0.88, 0.97)]],
    3: [_arc(0.47, 0.27, 0.3, 0.24, 200, 450) + _arc(0.47, 0.73, 0.33, 0.24, 270, 520)[1:]],
    4: [[(0.55, 0.02), (0.1, 0.65), (0.9, 0.65)], [(0.68, 0.3), (0.68, 0.98)]],
    7: [[(0.1, 0.05), (0.9, 0.05), (0.4, 0.98)]],
}

PAPERS = {"white": (236, 236, 230), "grey": (200, 200, 200), "beige": (232, 218, 188)}
INKS = {"black": (25, 25, 30), "dark grey": (50, 50, 50), "blue": (30, 50, 160), "pencil": (95, 95, 100)}


@dataclass(frozen=True)
class Scene:
    """What is photographed and how. ``digit=None`` photographs blank paper."""

    digit: int | None = 7
    size: tuple[int, int] = (480, 640)  # width, height
    paper: str = "white"
    ink: str = "black"
    lined: bool = False
    brightness: float = 1.0  # illumination at the brightest point (0.5 = paper near grey 120)
    gradient: float = 0.0  # fractional fall-off of the light from one side of the page to the other
    vignette: float = 0.0  # fractional fall-off in the corners
    blur: float = 0.8  # lens blur, Gaussian radius in pixels
    noise: float = 2.0  # sensor noise, standard deviation in 8-bit grey levels
    quality: int = 80  # JPEG quality
    stroke: float = 0.09  # pen width as a fraction of the digit's height
    height: float = 0.5  # digit height as a fraction of the picture's height
    tight: bool = False  # crop the photo to the digit, which touches the top and left edges


def _strokes(scene: Scene, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Ink coverage in [0, 1] of the digit (drawn 4x supersampled, anti-aliased), (h, w)."""
    s = 4
    mask = Image.new("L", (w * s, h * s), 0)
    if scene.digit is None:
        return np.zeros((h, w), np.float32)
    dh = scene.height * h
    dw = 0.7 * dh
    if scene.tight:
        x0, y0 = 0.0, 0.0
    else:
        x0 = (w - dw) / 2 + rng.uniform(-0.15, 0.15) * (w - dw)
        y0 = (h - dh) / 2 + rng.uniform(-0.15, 0.15) * (h - dh)
    slant = rng.uniform(-0.1, 0.1)
    width = max(1, round(scene.stroke * dh * s))
    draw = ImageDraw.Draw(mask)
    for line in GLYPHS[scene.digit]:
        pts = [((x0 + (x + slant * (1 - y)) * dw) * s, (y0 + y * dh) * s) for x, y in line]
        draw.line(pts, fill=255, width=width, joint="curve")
        for px, py in (pts[0], pts[-1]):  # round pen ends
            draw.ellipse([px - width / 2, py - width / 2, px + width / 2, py + width / 2], fill=255)
    cover = np.asarray(mask.resize((w, h), Image.Resampling.BOX), np.float32) / 255.0
    if scene.ink == "pencil":  # graphite grain: uneven coverage along the stroke
        cover *= rng.uniform(0.55, 1.0, cover.shape).astype(np.float32)
    return cover


def _illumination(scene: Scene, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    along = ((x / w - 0.5) * math.cos(angle) + (y / h - 0.5) * math.sin(angle)) / math.sqrt(0.5)
    light = 1.0 - scene.gradient * (along + 1.0) / 2.0
    r2 = ((x - w / 2) ** 2 + (y - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    light *= 1.0 - scene.vignette * r2
    return scene.brightness * light


def photo(scene: Scene, seed: int, *, clean: bool = False) -> bytes:
    """The JPEG bytes of ``scene`` photographed with the randomness of ``seed``.

    ``clean=True`` gives the same digit (same place, slant and stroke) in black on white paper, without
    lines, uneven light, blur, noise or JPEG (a PNG): the picture the photo should be read as."""
    if clean:
        scene = replace(
            scene,
            paper="white",
            ink="black",
            lined=False,
            brightness=1.0,
            gradient=0.0,
            vignette=0.0,
            blur=0.0,
            noise=0.0,
        )
    rng = np.random.default_rng(seed)
    w, h = scene.size
    paper = np.array(PAPERS[scene.paper], np.float32) / 255.0
    ink = np.array(INKS[scene.ink], np.float32) / 255.0
    rgb = np.broadcast_to(paper, (h, w, 3)).copy()
    rgb *= rng.uniform(0.97, 1.0, (h, w, 1)).astype(np.float32)  # paper texture
    jitter = rng.uniform(-2, 2, 11)  # drawn even without lines: the clean photo has the same digit
    if scene.lined:
        line = np.array((150, 175, 225), np.float32) / 255.0  # light-blue ruling, 1/12 of the page apart
        for k in range(1, 12):
            row = int(round(k * h / 12 + jitter[k - 1]))
            rgb[row : row + 2] = line
    cover = _strokes(scene, rng, w, h)[:, :, None]
    rgb = rgb * (1 - cover) + ink * cover
    rgb *= _illumination(scene, rng, w, h)[:, :, None]
    im = Image.fromarray(np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8))
    if scene.blur:
        im = im.filter(ImageFilter.GaussianBlur(scene.blur))
    arr = np.asarray(im, np.float32) + rng.normal(0, scene.noise, (h, w, 3)).astype(np.float32)
    im = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    if scene.tight:
        dh = scene.height * h
        im = im.crop((0, 0, min(w, int(0.8 * dh)), int(dh) + 1))  # digit touching the top and left edges
    out = io.BytesIO()
    im.save(out, format="PNG") if clean else im.save(out, format="JPEG", quality=scene.quality)
    return out.getvalue()


#: The kinds of photo that must be read, as changes to a default :class:`Scene`.
KINDS: dict[str, dict] = {
    "dim grey paper (paper ~120, ink ~30)": {
        "paper": "grey",
        "ink": "dark grey",
        "brightness": 0.6,
        "noise": 3.0,
        "quality": 70,
    },
    "very dim, noisy": {"brightness": 0.35, "noise": 4.0, "quality": 60},
    "light gradient": {"gradient": 0.5},
    "vignetting": {"vignette": 0.55, "brightness": 0.8},
    "dim + gradient + vignetting": {"brightness": 0.55, "gradient": 0.4, "vignette": 0.4, "noise": 3.0},
    "beige paper": {"paper": "beige", "gradient": 0.2},
    "lined paper": {"lined": True, "gradient": 0.2},
    "lined paper, blue ink": {"lined": True, "ink": "blue", "vignette": 0.3},
    "blue ink": {"ink": "blue", "brightness": 0.8},
    "pencil": {"ink": "pencil", "stroke": 0.07},
    "pencil on grey paper, dim": {"ink": "pencil", "paper": "grey", "brightness": 0.6, "noise": 3.0},
    "blurred": {"blur": 4.0},
    "heavy JPEG": {"quality": 25, "noise": 3.0},
    "thin pen, large photo": {"size": (960, 1280), "stroke": 0.035, "blur": 1.5},
    "tight crop, digit touching the edges": {"tight": True, "height": 0.9, "stroke": 0.12},
    "tight crop, dim, gradient": {"tight": True, "height": 0.9, "brightness": 0.6, "gradient": 0.4},
}


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two 28×28 images after a slight blur (a 1-pixel shift of a thin stroke is no
    difference a reader would see)."""

    kernel = np.exp(-0.5 * np.arange(-2, 3) ** 2)
    kernel /= kernel.sum()

    def soft(x: np.ndarray) -> np.ndarray:  # separable Gaussian blur, sigma 1 pixel
        x = np.apply_along_axis(np.convolve, 0, np.asarray(x, np.float64), kernel, mode="same")
        return np.apply_along_axis(np.convolve, 1, x, kernel, mode="same").ravel()

    return float(np.corrcoef(soft(a), soft(b))[0, 1])


def scenes(seed: int) -> list[tuple[str, Scene, int]]:
    """(name, scene, photo seed) for every kind and digit, with digits and seeds drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for i, (kind, changes) in enumerate(KINDS.items()):
        digit = sorted(GLYPHS)[i % len(GLYPHS)]
        out.append((f"{kind} [{digit}]", replace(Scene(digit=digit), **changes), int(rng.integers(1 << 30))))
    return out


def blank_scenes(seed: int) -> list[tuple[str, Scene, int]]:
    """The same kinds of photo with no digit: blank paper under the same light, blur and noise."""
    return [(f"blank: {name}", replace(scene, digit=None), s + 1) for name, scene, s in scenes(seed)]
