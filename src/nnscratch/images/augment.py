"""Seeded data augmentation for digit images: random affine maps, vectorised over the batch.

Every image of a batch gets its own random affine map (shift, rotation, isotropic scaling and an optional
shear, all about the image centre). The whole batch is then resampled by ONE gather with bilinear weights:
no per-image Python loop and no Pillow, so augmenting all 60,000 MNIST images takes a fraction of a
second on one core (``benchmarks/bench_augment.py``).

Conventions (``(row, col)`` pixel coordinates, rows pointing down, centre ``((h-1)/2, (w-1)/2)``):

* a shift ``(dy, dx)`` moves the picture ``dy`` pixels down and ``dx`` pixels right; an integer shift
  is exact (``np.roll`` with zeros coming in);
* a positive rotation turns the picture counter-clockwise as displayed, so 90° equals
  ``np.rot90(img)``;
* a scale above 1 enlarges the digit;
* a positive shear moves lower rows to the right (a shear angle ``phi`` maps ``col += tan(phi) * row``).

Pixels that come from outside the image are 0 (black background). Identity parameters return the input
exactly, and because each output pixel is a convex blend of input pixels, inputs in [0, 1] stay in [0, 1].

Example::

    aug = Augmenter(max_shift=2.0, max_rotation=10.0, scale_range=(0.9, 1.1))
    xb = aug(x_batch, rng)          # (n, 784) or (n, 28, 28) -> same shape, float32
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nnscratch.errors import NNScratchError
from nnscratch.inputs import scale_pixels

__all__ = ["AugmentationError", "Augmenter", "affine_matrices", "random_affine", "warp_affine"]

#: Images resampled per inner step: small enough for the working buffers (~6 MB) to stay in cache.
_CHUNK = 128


class AugmentationError(NNScratchError, ValueError):
    """Bad augmentation parameters, or images of a shape or type that cannot be augmented."""


def _number(name: str, value: object, low: float, high: float, high_open: bool = False) -> float:
    """``value`` as a float in [low, high] (or [low, high)), else an AugmentationError naming it."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AugmentationError(f"{name} must be a number, got {value!r}.") from None
    if not (low <= v <= high) or (high_open and v == high):
        bracket = ")" if high_open else "]"
        raise AugmentationError(f"{name} must be in [{low:g}, {high:g}{bracket}, got {value!r}.")
    return v


@dataclass(frozen=True)
class Augmenter:
    """Random affine augmentation; the parameters are the ranges each image's map is drawn from.

    Per image, independently and uniformly: a shift in [-max_shift, max_shift] pixels along each axis,
    a rotation in [-max_rotation, max_rotation] degrees, a scale factor in ``scale_range`` and a shear
    angle in [-shear, shear] degrees. ``Augmenter(0, 0, (1, 1))`` is the identity. ``hflip`` is the
    probability of mirroring an image left-right (for clothes, not digits; 0 by default).
    """

    max_shift: float = 2.0
    max_rotation: float = 10.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    shear: float = 0.0
    hflip: float = 0.0

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__  # frozen dataclass: normalise the fields once, here
        setattr_(self, "max_shift", _number("max_shift (pixels)", self.max_shift, 0.0, 28.0))
        setattr_(self, "max_rotation", _number("max_rotation (degrees)", self.max_rotation, 0.0, 180.0))
        setattr_(self, "shear", _number("shear (degrees)", self.shear, 0.0, 90.0, high_open=True))
        setattr_(self, "hflip", _number("hflip (probability)", self.hflip, 0.0, 1.0))
        try:
            low, high = (float(v) for v in self.scale_range)
        except (TypeError, ValueError):
            raise AugmentationError(
                f"scale_range must be two numbers (low, high), got {self.scale_range!r}."
            ) from None
        if not (0.0 < low <= high < math.inf):
            raise AugmentationError(
                f"scale_range must satisfy 0 < low <= high (finite), got {self.scale_range!r}."
            )
        setattr_(self, "scale_range", (low, high))

    @property
    def is_identity(self) -> bool:
        """True when every drawn map is the identity (augmentation switched off)."""
        return (
            self.max_shift == self.max_rotation == self.shear == self.hflip == 0.0
            and self.scale_range == (1.0, 1.0)
        )

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` maps: ``(matrices (n, 2, 2), shifts (n, 2))`` as used by :func:`warp_affine`.

        Consumes exactly one ``rng.random((n, 5))`` call, whatever the parameters, so the generator's
        stream after augmenting depends only on the batch size; with ``hflip > 0`` one ``rng.random(n)``
        more decides which images are mirrored (their maps get the column axis negated first).
        """
        u = rng.random((n, 5))  # columns: dy, dx, rotation, scale, shear
        low, high = self.scale_range
        shifts = self.max_shift * (2.0 * u[:, :2] - 1.0)
        matrices = affine_matrices(
            rotation=self.max_rotation * (2.0 * u[:, 2] - 1.0),
            scale=low + (high - low) * u[:, 3],
            shear=self.shear * (2.0 * u[:, 4] - 1.0),
        )
        if self.hflip > 0.0:
            matrices[rng.random(n) < self.hflip, :, 1] *= -1.0  # A @ diag(1, -1): mirror, then A
        return matrices, shifts

    def __call__(self, x: np.ndarray, rng: np.random.Generator, out: np.ndarray | None = None) -> np.ndarray:
        """Augment a batch: x (n, 784) or (n, h, w), float in [0, 1] or uint8 -> same shape, float32.

        uint8 images are scaled by 1/255 first. ``out`` (float32, same shape as ``x``, C-contiguous)
        receives the result and may be ``x`` itself.
        """
        n = len(x) if isinstance(x, np.ndarray) and x.ndim >= 1 else 0
        matrices, shifts = self.sample(n, rng)
        return warp_affine(x, matrices, shifts, out=out)


def random_affine(
    x: np.ndarray,
    rng: np.random.Generator,
    *,
    max_shift: float = 2.0,
    max_rotation: float = 10.0,
    scale_range: tuple[float, float] = (0.9, 1.1),
    shear: float = 0.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Functional form: ``Augmenter(max_shift, max_rotation, scale_range, shear)(x, rng, out)``."""
    return Augmenter(max_shift, max_rotation, scale_range, shear)(x, rng, out=out)


def affine_matrices(
    rotation: np.ndarray | float, scale: np.ndarray | float = 1.0, shear: np.ndarray | float = 0.0
) -> np.ndarray:
    """Forward linear maps ``R(rotation) @ scale @ Shear(shear)`` in (row, col) coordinates.

    Angles in degrees (positive rotation = counter-clockwise as displayed, positive shear = lower rows
    to the right); the arguments broadcast together to n maps. Returns float64 (n, 2, 2).
    """
    arrays = (np.atleast_1d(np.asarray(a, np.float64)) for a in (rotation, scale, shear))
    theta, s, phi = np.broadcast_arrays(*arrays)
    cos, sin, k = np.cos(np.deg2rad(theta)), np.sin(np.deg2rad(theta)), np.tan(np.deg2rad(phi))
    # R = [[cos, -sin], [sin, cos]] turns counter-clockwise on screen (rows point down);
    # Shear = [[1, 0], [k, 1]]; R @ Shear, times the scale:
    maps = np.empty(theta.shape + (2, 2))
    maps[:, 0, 0], maps[:, 0, 1] = cos - sin * k, -sin
    maps[:, 1, 0], maps[:, 1, 1] = sin + cos * k, cos
    return maps * s[:, None, None]


def _as_images(x: np.ndarray) -> np.ndarray:
    """``x`` viewed as (n, h, w) (rows of a square number of pixels are square images), or an
    AugmentationError saying what is wrong with it."""
    if not isinstance(x, np.ndarray):
        raise AugmentationError(f"images must be a NumPy array, got {type(x).__name__}.")
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise AugmentationError(f"images must be float in [0, 1] or uint8, got dtype {x.dtype}.")
    side = math.isqrt(x.shape[1]) if x.ndim == 2 else 0
    if x.ndim == 2 and side > 0 and side * side == x.shape[1]:
        return x.reshape(len(x), side, side)
    if x.ndim == 3 and x.shape[1] > 0 and x.shape[2] > 0:
        return x
    raise AugmentationError(f"images must have shape (n, side*side) or (n, height, width), got {x.shape}.")


@lru_cache(maxsize=8)
def _base_grid(h: int, w: int) -> np.ndarray:
    """(3, h*w) float32 rows: row and column of every output pixel relative to the centre, and ones."""
    rows, cols = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    grid = np.stack([rows.ravel(), cols.ravel(), np.ones(h * w)]).astype(np.float32)
    grid.flags.writeable = False
    return grid


class _Workspace:
    """The buffers of one resampling step of up to ``chunk`` images of h×w pixels, made once per image
    size and thread and reused by every call, so no call pays for fresh pages (in a fresh process,
    megabytes of new temporaries per batch cost more than the arithmetic).

    ``quads``: each image padded with zeros, 1 pixel above/left and 2 below/right, (h+3, w+3); cell
    (r, c) packs its 4 bilinear neighbours P[r, c], P[r, c+1], P[r+1, c], P[r+1, c+1] into 16
    contiguous bytes, so one np.take of complex128 gathers all four. Every call writes the same
    interior cells, so the borders stay 0."""

    def __init__(self, h: int, w: int) -> None:
        hp, wp = h + 2, w + 2
        chunk = self.chunk = max(1, min(_CHUNK, 2**24 // (hp * wp)))  # flat indices exact in float32
        self.h, self.w = h, w
        self.quads = np.zeros((chunk, hp, wp, 4), np.float32)
        self.quads_flat = self.quads.view(np.complex128).reshape(-1)
        self.coords = np.empty((chunk, 2, h * w), np.float32)
        self.floors = np.empty_like(self.coords)
        self.index = np.empty((chunk, h * w), np.intp)
        self.gathered = np.empty(chunk * h * w, np.complex128)
        self.top = np.empty((chunk, h * w), np.float32)
        self.bottom = np.empty_like(self.top)
        self.scaled = np.empty((chunk, h, w), np.float32)
        self.image_offset = (np.arange(chunk, dtype=np.float32) * (hp * wp))[:, None]


_local = threading.local()


def _workspace(h: int, w: int) -> _Workspace:
    """This thread's workspace for h×w images (the last few sizes are kept)."""
    cache = _local.__dict__.setdefault("workspaces", {})
    ws = cache.get((h, w))
    if ws is None:
        if len(cache) >= 4:
            cache.clear()
        ws = cache[h, w] = _Workspace(h, w)
    return ws


def warp_affine(
    x: np.ndarray, matrix: np.ndarray, shift: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Apply per-image affine maps about the image centre with bilinear interpolation and zero padding.

    ``matrix`` is (2, 2) or (n, 2, 2), the forward linear part in (row, col) coordinates (see
    :func:`affine_matrices`); ``shift`` is (2,) or (n, 2) pixels (down, right). Output pixel ``q`` takes
    the input at ``A^-1 (q - c - shift) + c``. Shapes and dtypes as in :meth:`Augmenter.__call__`.
    """
    imgs = _as_images(x)
    n, h, w = imgs.shape
    out = _checked_out(out, x.shape)
    maps = _source_maps(matrix, shift, n, h, w)
    if n == 0:
        return out
    ws, grid, flat_out = _workspace(h, w), _base_grid(h, w), out.reshape(n, h * w)
    for start in range(0, n, ws.chunk):
        m = min(ws.chunk, n - start)
        _resample(ws, grid, imgs[start : start + m], maps[start : start + m], flat_out[start : start + m])
    return out


def _checked_out(out: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """``out``, or a new float32 array of ``shape``; an AugmentationError when ``out`` cannot be used."""
    if out is None:
        return np.empty(shape, np.float32)
    if not (
        isinstance(out, np.ndarray)
        and out.shape == shape
        and out.dtype == np.float32
        and out.flags.c_contiguous
        and out.flags.writeable
    ):
        raise AugmentationError(
            f"out must be a writeable C-contiguous float32 array of shape {shape}, got "
            f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}."
        )
    return out


def _source_maps(matrix: np.ndarray, shift: np.ndarray, n: int, h: int, w: int) -> np.ndarray:
    """(n, 2, 3) float32: for each image, the affine map from an output pixel (row, col relative to the
    centre, 1) to its source pixel ``inv @ (q - c) + (c - inv @ shift)``, plus 1 for the zero border."""
    a = np.broadcast_to(np.asarray(matrix, np.float64), (n, 2, 2))
    t = np.broadcast_to(np.asarray(shift, np.float64), (n, 2))
    det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
    if not (np.isfinite(a).all() and np.isfinite(t).all() and (np.abs(det) > 1e-12).all()):
        raise AugmentationError("affine maps must be finite and invertible (non-zero determinant).")
    inv = np.stack([np.stack([a[:, 1, 1], -a[:, 0, 1]], -1), np.stack([-a[:, 1, 0], a[:, 0, 0]], -1)], 1)
    inv /= det[:, None, None]
    centre = np.array([(h - 1) / 2 + 1, (w - 1) / 2 + 1])
    maps = np.concatenate([inv, (centre - np.einsum("nij,nj->ni", inv, t))[:, :, None]], axis=2)
    return maps.astype(np.float32)  # one row-map and one col-map per image


def _resample(ws: _Workspace, grid: np.ndarray, src: np.ndarray, maps: np.ndarray, out: np.ndarray) -> None:
    """Resample the m images ``src`` (m, h, w) through ``maps`` (m, 2, 3) into ``out`` (m, h*w), in the
    workspace's buffers. Coordinates are clipped to [0, h+1] x [0, w+1]: anything beyond lands on a zero
    border cell with weight 1."""
    m, h, w, wp = len(src), ws.h, ws.w, ws.w + 2
    if src.dtype.kind != "f":
        src = scale_pixels(src, out=ws.scaled[:m])
    quads = ws.quads
    quads[:m, 1 : h + 1, 1 : w + 1, 0] = src
    quads[:m, 1 : h + 1, 0:w, 1] = src
    quads[:m, 0:h, 1 : w + 1, 2] = src
    quads[:m, 0:h, 0:w, 3] = src

    co, fl = ws.coords[:m], ws.floors[:m]
    np.matmul(maps.reshape(2 * m, 3), grid, out=co.reshape(2 * m, h * w))
    np.clip(co[:, 0], 0, h + 1, out=co[:, 0])
    np.clip(co[:, 1], 0, w + 1, out=co[:, 1])
    np.floor(co, out=fl)
    co -= fl  # now the fractional parts: weights of the lower/right neighbours
    cell = fl[:, 0]
    cell *= wp
    cell += fl[:, 1]
    cell += ws.image_offset[:m]
    idx = ws.index[:m]
    idx[...] = cell
    # mode="clip": the indices are in range by construction, and with the default mode="raise" np.take
    # gathers into a temporary copy of ``out`` first
    g = np.take(ws.quads_flat, idx.reshape(-1), out=ws.gathered[: m * h * w], mode="clip").view(np.float32)
    g = g.reshape(m, h * w, 4)

    # Bilinear blend as three lerps a + f * (b - a): exact when f == 0, and within [a, b].
    fr, fc, up, down = co[:, 0], co[:, 1], ws.top[:m], ws.bottom[:m]
    np.subtract(g[..., 1], g[..., 0], out=up)
    up *= fc
    up += g[..., 0]
    np.subtract(g[..., 3], g[..., 2], out=down)
    down *= fc
    down += g[..., 2]
    down -= up
    down *= fr
    np.add(up, down, out=out)
