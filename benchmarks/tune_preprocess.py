"""Margins of the blank-picture rule (nnscratch.images.ink) on the TUNING photos, never the test ones.

For every synthetic photo of tests/photos.py made with ``TUNING_SEED`` (each kind with a digit, and the
same kind as blank paper) this prints how far the picture is from the rule's thresholds: the share of
the picture in pixels that pass the contrast and level tests at the noise multiple, the strongest
relative ink, the paper's noise, and whether the digit was read (correlation of the 28×28 result with
the same digit photographed cleanly). The thresholds in ``nnscratch/images/ink.py`` were set so that
every digit photo here is read and every blank one refused, with room on both sides.

    python benchmarks/tune_preprocess.py [--seed N]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from PIL import Image  # noqa: E402

import photos  # noqa: E402
from nnscratch.errors import ImageError  # noqa: E402
from nnscratch.images import ink  # noqa: E402
from nnscratch.images.preprocess import preprocess_image  # noqa: E402


def stats(data: bytes) -> dict:
    gray = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float32) / 255.0
    rel, scale, sigma = ink.relative_ink(gray)
    ok = (rel >= ink.MIN_CONTRAST) & (rel * scale >= ink.MIN_LEVEL)
    return {
        "sigma": sigma,
        "peak": float(rel.max()),
        # share of pixels passing at 4, 6, 8, 12 noise deviations
        "shares": [float(((rel > k * sigma) & ok).mean()) for k in (4, 6, 8, 12)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=photos.TUNING_SEED)
    args = parser.parse_args(argv)
    print(f"seed {args.seed}; needed share {ink.MIN_INK_SHARE:g} at {ink.NOISE_SIGMAS:g} sigma")
    print(f"{'photo':52s} {'sigma':>6s} {'peak':>6s}  share>4σ  >6σ      >8σ      >12σ     result")
    for name, scene, seed in photos.scenes(args.seed) + photos.blank_scenes(args.seed):
        data = photos.photo(scene, seed)
        s = stats(data)
        try:
            out = preprocess_image(data)
            if scene.digit is None:
                result = "READ (wrong)"
            else:
                clean = preprocess_image(photos.photo(scene, seed, clean=True))
                result = f"read, similarity {photos.similarity(out, clean):.3f}"
        except ImageError:
            result = "blank" if scene.digit is None else "BLANK (wrong)"
        shares = "  ".join(f"{x:.1e}" for x in s["shares"])
        print(f"{name:52s} {s['sigma']:6.3f} {s['peak']:6.2f}  {shares}  {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
