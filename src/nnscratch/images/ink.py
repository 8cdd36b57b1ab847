"""Where the ink is in a picture, relative to the paper's own level and noise, and whether there is any.

A phone photo of a digit is paper lit unevenly (dim, brighter on one side, darker in the corners), with
sensor noise and JPEG artefacts, and a stroke that is darker than the paper *around it*: dark ink on
grey paper in dim light (ink near grey level 30 on paper near 120) is as clear a digit as black on white.
So nothing here compares grey levels with fixed values; everything is measured against the paper:

1. **The paper's level.** Pictures up to :data:`SMALL` pixels a side are digit fields already (MNIST
   itself, small drawings): their paper is one level, the median of the border; so is a picture whose
   border does not vary at all (a drawing on a canvas: no light to model). In other larger pictures
   (photos) the level is a smooth surface, a polynomial of degree :data:`DEGREE` in x and y, fitted to
   the medians of the cells of a grid (at most :data:`GRID` cells along the longer side), leaving out
   the cells that stand out from it (more than :data:`FIT_CUT` robust deviations; the ink) and
   refitted :data:`FIT_ROUNDS` times; gradients and vignetting vanish with it.
2. **Polarity.** Dark ink on light paper or light ink on dark: whichever side of the paper's level has
   more mass beyond four noise deviations (so a dim grey page is still paper, not "a dark background").
   The surface is then refitted leaving out only cells on the ink's side.
3. **Relative ink.** The ink strength is the fraction of the paper's brightness the ink takes away,
   ``(level - grey) / level`` (for light ink ``(grey - level) / max(level, 1 - level)``), so it does not
   depend on how bright the light was. In photos, straight rules across at least 95 % of the picture
   (lined or squared paper) are removed by subtracting each row's and column's
   :data:`RULE_PERCENTILE`-th percentile of ink. The paper's noise ``sigma`` is 1.4826 times the median
   absolute deviation of the relative ink (the paper is most of the picture), in photos at least half
   an 8-bit grey step (flat JPEG paper has no deviation at all).
4. **The blank decision.** A picture has ink when at least :data:`MIN_INK_PIXELS` pixels (in photos,
   at least the share :data:`MIN_INK_SHARE` of the picture) are all of: more than :data:`NOISE_SIGMAS`
   times ``sigma`` above the paper, at least :data:`MIN_CONTRAST` of the paper's brightness darker (or
   lighter), and at least :data:`MIN_LEVEL` different in absolute grey level (below that, 8-bit
   pictures cannot show a difference: a near-black picture is not a digit).
   The thresholds were chosen on synthetic photos made with a seed the tests never use
   (``python benchmarks/tune_preprocess.py``: tests/photos.py with ``TUNING_SEED``). There, every photo
   with a digit was read, its strokes covering 1.3-30 % of the picture (65 times the share needed) with
   a peak relative ink of 0.51-0.99; on every blank photo no pixel passed even at four deviations, and
   the strongest relative "ink" was 0.07 (MIN_CONTRAST is twice that).
5. Pixels within :data:`DENOISE_SIGMAS` of the paper are set to zero (texture and sensor noise), the
   rest is scaled so the strongest ink is 1.

Limits: lighting is assumed smooth over the picture (a sharp shadow edge, or the table around the page,
is not paper); ruled lines must be straight and level with the picture's edges.
"""

from __future__ import annotations

import math

import numpy as np

#: Pictures with no side longer than this are digit fields: one paper level, from the border.
SMALL = 40
#: The paper's level is modelled on at most this many cells along the longer side.
GRID = 64
#: Degree of the polynomial surface fitted to the paper's level in photos (3: gradients, vignetting).
DEGREE = 3
#: The surface is refitted this many times, leaving out cells more than FIT_CUT deviations off it.
FIT_ROUNDS = 5
FIT_CUT = 2.5
#: Ink must stand this many noise deviations above the paper...
NOISE_SIGMAS = 6.0
#: ...take at least this fraction of the paper's brightness away (or add it, for light ink)...
MIN_CONTRAST = 0.15
#: ...and differ by at least this much in absolute grey level (0..1; 3/255 in 8-bit pictures)...
MIN_LEVEL = 3.0 / 255.0
#: ...in at least this many pixels, and in photos (larger than SMALL) this share of the picture.
MIN_INK_PIXELS = 1
MIN_INK_SHARE = 2e-4
#: Ruled lines: ink in at least (100 - this) % of a row or column of a photo is a rule, not a stroke.
RULE_PERCENTILE = 5
#: Pixels within this many noise deviations of the paper are paper.
DENOISE_SIGMAS = 4.0


def _border(gray: np.ndarray) -> np.ndarray:
    edge = max(1, min(gray.shape) // 20)
    return np.concatenate(
        [gray[:edge].ravel(), gray[-edge:].ravel(), gray[:, :edge].ravel(), gray[:, -edge:].ravel()]
    )


def _mad_sigma(values: np.ndarray) -> float:
    """Robust standard deviation: 1.4826 × the median absolute deviation."""
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def _cells(gray: np.ndarray) -> tuple[np.ndarray, int]:
    """Median of each cell of a grid with at most GRID cells along the longer side, and the cell side."""
    h, w = gray.shape
    cell = max(1, math.ceil(max(h, w) / GRID))
    gh, gw = math.ceil(h / cell), math.ceil(w / cell)
    padded = np.pad(gray, ((0, gh * cell - h), (0, gw * cell - w)), mode="edge")
    blocks = padded.reshape(gh, cell, gw, cell).transpose(0, 2, 1, 3).reshape(gh, gw, cell * cell)
    return np.median(blocks, axis=-1).astype(np.float32), cell


def _surface(cells: np.ndarray, cell: int, shape: tuple[int, int], dark: bool | None) -> np.ndarray:
    """The paper's level at every pixel: a smooth surface (polynomial of degree DEGREE in x and y)
    fitted to the cell medians, leaving out cells that stand out from it (the ink, when ``dark`` is
    given: only on the ink's side), refitted a few times. Returns (h, w) float32."""
    gh, gw = cells.shape
    h, w = shape
    powers = [(i, j) for i in range(DEGREE + 1) for j in range(DEGREE + 1 - i)]

    def basis(n: int, step: float, side: int) -> np.ndarray:  # (n, DEGREE + 1): t**k at the centres
        t = ((np.arange(n) + 0.5) * step / side) * 2.0 - 1.0
        return t[:, None] ** np.arange(DEGREE + 1)

    bx, by = basis(gw, cell, w), basis(gh, cell, h)
    design = np.stack([(by[:, j][:, None] * bx[:, i][None, :]).ravel() for i, j in powers], axis=1)
    values = cells.ravel().astype(np.float64)
    start = values - np.median(values)  # first round: the cells near the typical level (the paper)
    keep = np.abs(start) <= FIT_CUT * _mad_sigma(values) + 1e-4
    for _ in range(FIT_ROUNDS):
        used = design[keep]  # normal equations, summed without BLAS (tiny: threads would only contend)
        coef = np.linalg.solve(np.einsum("ni,nj->ij", used, used), np.einsum("ni,n->i", used, values[keep]))
        residual = values - design @ coef
        spread = FIT_CUT * _mad_sigma(residual[keep]) + 1e-4
        side = residual if dark is None else (-residual if dark else residual)
        keep = (np.abs(side) if dark is None else side) <= spread
        if keep.sum() < len(powers) * 4:  # almost nothing is paper: keep the last fit
            break
    px, py = basis(w, 1.0, w).astype(np.float32), basis(h, 1.0, h).astype(np.float32)
    rows = np.zeros((h, DEGREE + 1), dtype=np.float32)  # rows[:, i]: the factor of x**i, per row
    for c, (i, j) in zip(coef, powers, strict=True):
        rows[:, i] += np.float32(c) * py[:, j]
    level = np.zeros((h, w), dtype=np.float32)
    for i in range(DEGREE + 1):
        level += rows[:, i][:, None] * px[:, i][None, :]
    return level


def _is_dark_ink(gray: np.ndarray, level: np.ndarray | float) -> bool:
    """True when more mass lies darker than the paper (beyond 4 noise deviations) than lighter."""
    residual = gray - level
    t = DENOISE_SIGMAS * _mad_sigma(residual) + 1e-3
    dark = float(np.clip(-residual - t, 0.0, None).sum())
    light = float(np.clip(residual - t, 0.0, None).sum())
    return dark >= light


def _remove_rules(rel: np.ndarray) -> np.ndarray:
    """Subtract full-width/height straight rules (lined or squared paper): each row's and column's
    5th percentile of ink (zero wherever ink covers less than 95 % of the row/column)."""
    rel = rel - np.percentile(rel, RULE_PERCENTILE, axis=1, keepdims=True).clip(0.0, None)
    return rel - np.percentile(rel, RULE_PERCENTILE, axis=0, keepdims=True).clip(0.0, None)


def relative_ink(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(rel, scale, sigma)``: the ink as a fraction of the paper's brightness (steps 1–3 of the module
    docstring; may be negative where the paper is lighter than its level), the paper's brightness
    ``scale`` it is relative to (``rel * scale`` is the absolute difference), and the paper's noise."""
    border = _border(gray)
    one_level = max(gray.shape) <= SMALL or float(border.min()) == float(border.max())
    if one_level:  # a digit field, or paper with no variation at all (a drawing): nothing to model
        level: np.ndarray | float = float(np.median(border))
        dark = _is_dark_ink(gray, level)
    else:
        cells, cell = _cells(gray)
        dark = _is_dark_ink(gray, _surface(cells, cell, gray.shape, None))
        level = _surface(cells, cell, gray.shape, dark)
    if dark:
        scale = np.maximum(level, MIN_LEVEL)
        rel = (level - gray) / scale
    else:  # light ink: relative to the headroom above a dark paper, never more than the paper's level
        scale = np.maximum(np.maximum(1.0 - np.asarray(level), np.asarray(level)), MIN_LEVEL)
        rel = (gray - level) / scale
    scale = np.broadcast_to(scale, gray.shape)
    if one_level:
        return rel.astype(np.float32), scale, _mad_sigma(rel)
    rel = _remove_rules(rel)
    quantum = 0.5 / 255.0 / float(np.median(scale))  # 8-bit steps: flat JPEG paper has no MAD
    return rel.astype(np.float32), scale, max(_mad_sigma(rel), quantum)


def find_ink(gray: np.ndarray) -> np.ndarray | None:
    """Ink strength in [0, 1], light-on-dark, relative to the paper; None when the picture is blank.

    ``gray`` is (h, w) float in [0, 1] (0 = black). The rule is in the module docstring.
    """
    rel, scale, sigma = relative_ink(gray)
    strong = (rel > NOISE_SIGMAS * sigma) & (rel >= MIN_CONTRAST) & (rel * scale >= MIN_LEVEL)
    needed = MIN_INK_PIXELS if max(gray.shape) <= SMALL else max(MIN_INK_PIXELS, MIN_INK_SHARE * rel.size)
    if int(strong.sum()) < needed:
        return None
    ink = np.where(rel > max(DENOISE_SIGMAS * sigma, 1e-3), rel, 0.0)
    return (ink / float(ink.max())).astype(np.float32)
