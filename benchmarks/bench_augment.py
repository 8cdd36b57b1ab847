"""Time nnscratch.images.augment on real MNIST: all 60,000 training images at once, and batches of 128.

Run on one thread (the script sets the usual thread variables itself unless they are already set):

    python benchmarks/bench_augment.py [--data-dir ../shared/data/mnist] [--repeats 7] [--epochs 3]

Prints the median (and min/max) wall time of augmenting the whole training set once with the default
``Augmenter`` (shift ±2 px, rotation ±10°, scale 0.9–1.1) plus a ±10° shear variant, and the median time
of one 128-image batch. Timings on a machine shared with other work are noisy: look at the median.

Then, each in a FRESH process (where a first epoch used to pay page faults for the temporaries of every
batch): ``--epochs`` epochs of direct ``Augmenter`` calls, one per shuffled batch of 128 uint8 images
with a new output array each (ms per batch, per epoch), and ``--epochs`` epochs of ``--preset best``
training (its per-epoch times). The first epoch should run at the rate of the later ones.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gzip  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from nnscratch.images.augment import Augmenter  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def load_train_images(data_dir: Path) -> np.ndarray:
    """The 60,000 training images as float32 (n, 28, 28) in [0, 1] (IDX header: 16 bytes)."""
    return load_train_pixels(data_dir).astype(np.float32) / 255


def load_train_pixels(data_dir: Path) -> np.ndarray:
    """The 60,000 training images as uint8 (n, 28, 28) (IDX header: 16 bytes)."""
    raw = gzip.decompress((data_dir / "train-images-idx3-ubyte.gz").read_bytes())
    return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)


def load_train_labels(data_dir: Path) -> np.ndarray:
    raw = gzip.decompress((data_dir / "train-labels-idx1-ubyte.gz").read_bytes())
    return np.frombuffer(raw, np.uint8, offset=8)


def child_direct_calls(data_dir: Path, epochs: int) -> None:
    """Epochs of direct Augmenter calls on shuffled batches of 128 (scaled as the trainer does)."""
    x = load_train_pixels(data_dir).reshape(-1, 784)
    aug, rng = Augmenter(), np.random.default_rng(0)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x))
        start = time.perf_counter()
        for i in range(0, len(x), 128):
            aug(x[order[i : i + 128]] / np.float32(255), rng)
        elapsed = time.perf_counter() - start
        per_batch = elapsed / 469 * 1e3
        print(f"direct Augmenter calls, epoch {epoch}: {elapsed:.2f} s ({per_batch:.2f} ms per batch)")


def child_best_preset(data_dir: Path, epochs: int) -> None:
    """Epochs of ``--preset best`` training on the 60,000 training images."""
    from nnscratch.training.presets import build_network

    x, y = load_train_pixels(data_dir).reshape(-1, 784), load_train_labels(data_dir)
    net = build_network("best", epochs=epochs, verbose=False)
    for row in net.train(x, y):
        print(f"--preset best training, epoch {row['epoch']}: {row['time']:.2f} s")


def fresh_process(mode: str, data_dir: Path, epochs: int) -> None:
    cmd = [sys.executable, __file__, "--child", mode, "--data-dir", str(data_dir), "--epochs", str(epochs)]
    subprocess.run(cmd, check=True)


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
    parser.add_argument("--epochs", type=int, default=3, help="epochs in each fresh process (default 3)")
    parser.add_argument("--child", choices=("direct", "best"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child = child_direct_calls if args.child == "direct" else child_best_preset
        child(args.data_dir, args.epochs)
        return

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
    for mode in ("direct", "best"):
        fresh_process(mode, args.data_dir, args.epochs)


if __name__ == "__main__":
    main()
