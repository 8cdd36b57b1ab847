"""Accuracy and training time of ``nnscratch train --preset best`` over several seeds, on one thread.

Issue 6's target: at least 98.8 % on the official MNIST test set averaged over 3 seeds, in at most
2 minutes of training per seed on one core. Each seed trains exactly as the CLI does (the preset, the
85/15 split with seed 42, validation each epoch) and is then scored on the 10,000 test images.

    python benchmarks/bench_best.py [--seeds 0,1,2] [--data-dir DIR] [--preset best] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from threadpoolctl import threadpool_limits  # noqa: E402

from nnscratch.cli.train import split_data  # noqa: E402
from nnscratch.data import load_mnist  # noqa: E402
from nnscratch.training.presets import build_network  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def run_seed(preset: str, seed: int, data, dataset: str = "mnist") -> dict:
    """Train preset ``preset`` (its ``dataset`` recipe) with ``seed``; epochs, time and accuracies."""
    x_tr, y_tr, x_val, y_val, x_test, y_test = data
    net = build_network(preset, dataset, seed=seed, verbose=False)
    start = time.perf_counter()
    history = net.train(x_tr, y_tr, x_val, y_val)
    seconds = time.perf_counter() - start
    return {
        "seed": seed,
        "epochs": len(history),
        "train_seconds": seconds,
        "val_accuracy": history[-1]["val_accuracy"],
        "test_accuracy": net.compute_accuracy(x_test, y_test),
    }


def seed_table(rows: list[dict]) -> list[str]:
    """The markdown table of :func:`run_seed` results, one row per seed (the caller adds the summary)."""
    lines = [
        "| seed | epochs | training time | validation accuracy | test accuracy |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['epochs']} | {r['train_seconds']:.1f} s | {100 * r['val_accuracy']:.2f}% "
            f"| {100 * r['test_accuracy']:.2f}% |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--preset", default="best")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("NNSCRATCH_DATA", DEFAULT_DATA)))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    ds = load_mnist(args.data_dir)
    data = split_data(ds, "official", 0.15, 42)
    rows = []
    with threadpool_limits(limits=1):
        for seed in (int(s) for s in args.seeds.split(",")):
            rows.append(run_seed(args.preset, seed, data))
            print(
                f"seed {seed}: {100 * rows[-1]['test_accuracy']:.2f}% in {rows[-1]['train_seconds']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    accs = [r["test_accuracy"] for r in rows]
    summary = {
        "preset": args.preset,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, 1 thread",
        "rows": rows,
        "mean_test_accuracy": statistics.mean(accs),
        "std_test_accuracy": statistics.stdev(accs) if len(accs) > 1 else 0.0,
        "max_train_seconds": max(r["train_seconds"] for r in rows),
    }
    print("\n".join(seed_table(rows)))
    print(
        f"| mean ± std | | ≤ {summary['max_train_seconds']:.1f} s | | "
        f"{100 * summary['mean_test_accuracy']:.2f} ± {100 * summary['std_test_accuracy']:.2f}% |"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
