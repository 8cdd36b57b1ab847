"""Time nnscratch.images.augment on real MNIST: all 60,000 training images at once, and batches of 128.

Run on one thread (the script sets the usual thread variables itself unless they are already set):

    python benchmarks/bench_augment.py [--data-dir ../shared/data/mnist] [--repeats 7]

Prints the median (and min/max) wall time of augmenting the whole training set once with the default
``Augmenter`` (shift ±2 px, rotation ±10°, scale 0.9–1.1) plus a ±10° shear variant, and the median time
of one 128-image batch. Timings on a machine shared with other work are noisy: look at the median.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gzip  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from nnscratch.images.augment import Augmenter  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def load_train_images(data_dir: Path) -> np.ndarray:
    """The 60,000 training images as float32 (n, 28, 28) in [0, 1] (IDX header: 16 bytes)."""
    raw = gzip.decompress((data_dir / "train-images-idx3-ubyte.gz").read_bytes())
    return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28).astype(np.float32) / 255


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: page faults of the output, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    x = load_train_images(args.data_dir)
    out = np.empty_like(x)
    print(f"numpy {np.__version__}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, images {x.shape}")
    for name, aug in (("default", Augmenter()), ("with shear 10", Augmenter(shear=10.0))):
        rng = np.random.default_rng(0)
        times = timed(lambda aug=aug, rng=rng: aug(x, rng, out=out), args.repeats)
        print(
            f"{name:>14}: all {len(x)} images: median {statistics.median(times) * 1e3:.0f} ms "
            f"(min {min(times) * 1e3:.0f}, max {max(times) * 1e3:.0f}, {args.repeats} runs)"
        )

    aug, rng = Augmenter(), np.random.default_rng(0)
    batches = [x[i : i + 128] for i in range(0, 128 * 50, 128)]
    times = timed(lambda: [aug(b, rng) for b in batches], args.repeats)
    per_batch = statistics.median(times) / len(batches)
    print(f"{'default':>14}: one batch of 128: median {per_batch * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
