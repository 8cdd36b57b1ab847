"""The Fashion-MNIST recipe of ``--preset best``: chosen on validation, then tested once over 3 seeds.

Two modes, so the choice never sees the test set:

* ``--search``: a handful of candidate recipes (the MNIST ``best`` preset with other augmentation and
  dropout), each trained for fewer epochs (``--search-epochs``, default 20) with seed 0 on the 51,000
  training images of the CLI's 85/15 split (seed 42) and scored on the 9,000 VALIDATION images only.
  The test images are not even passed to this mode.
* default: the chosen recipe, ``preset_options("best", dataset="fashion-mnist")``, trained exactly as
  ``nnscratch train --preset best --dataset fashion-mnist`` does for each of ``--seeds`` and scored on
  the official 10,000 test images, beside the published MLP baselines of the Fashion-MNIST benchmark.

    python benchmarks/bench_fashion.py --search [--search-epochs 20]
    python benchmarks/bench_fashion.py [--seeds 0,1,2] [--data-dir DIR] [--json FILE]
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

from bench_best import run_seed, seed_table  # noqa: E402
from nnscratch.cli.train import split_data  # noqa: E402
from nnscratch.data import load_dataset  # noqa: E402
from nnscratch.training.presets import build_network  # noqa: E402

DIGIT_AUGMENT = {"max_shift": 2.0, "max_rotation": 10.0, "scale_range": [0.9, 1.1]}
FLIP = {"max_shift": 0.0, "max_rotation": 0.0, "scale_range": [1.0, 1.0], "hflip": 0.5}
FLIP_SHIFT = {**FLIP, "max_shift": 1.0}

#: Candidates for the search: overrides of the MNIST ``best`` preset (784-128-64-10, ReLU/He, Adam 0.002
#: cosine, batch 128). Clothes are photographed upright and either way round: mirror images are
#: plausible garments, rotated or rescaled ones less so (the images fill the frame).
CANDIDATES: dict[str, dict] = {
    "mnist best (digit augmentation, dropout 0.1)": {"augment": DIGIT_AUGMENT, "dropout": 0.1},
    "no augmentation, dropout 0.1": {"augment": None, "dropout": 0.1},
    "flips, dropout 0.1": {"augment": FLIP, "dropout": 0.1},
    "flips + 1 px shifts, dropout 0.1": {"augment": FLIP_SHIFT, "dropout": 0.1},
    "flips + 1 px shifts, dropout 0.2": {"augment": FLIP_SHIFT, "dropout": 0.2},
}

#: Published results of the Fashion-MNIST benchmark: Xiao, Rasul & Vollgraf (2017), "Fashion-MNIST: a Novel
#: Image Dataset for Benchmarking Machine Learning Algorithms", arXiv:1708.07747, Table 3 (scikit-learn
#: classifiers, test accuracy averaged over 5 runs; the zalandoresearch/fashion-mnist benchmark).
BASELINES = [
    ("MLPClassifier, activation=relu, hidden_layer_sizes=[100]", 87.1),
    ("MLPClassifier, activation=relu, hidden_layer_sizes=[100, 10]", 87.0),
    ("MLPClassifier, activation=tanh, hidden_layer_sizes=[100]", 86.8),
    ("MLPClassifier, activation=tanh, hidden_layer_sizes=[100, 10]", 86.3),
    ("SVC, C=10, kernel=rbf (the table's best)", 89.7),
]

DEFAULT_DATA = Path("/usr/share/datasets/fashion-mnist")


def _train(options: dict, seed: int, x_tr, y_tr, x_val, y_val) -> tuple:
    net = build_network("best", dataset="fashion-mnist", **options, seed=seed, verbose=False)
    start = time.perf_counter()
    history = net.train(x_tr, y_tr, x_val, y_val)
    return net, history, time.perf_counter() - start


def search(data, epochs: int, only: list[int] | None = None) -> list[dict]:
    """Validation accuracy of the candidates (numbered from 1 in ``CANDIDATES`` order; ``only`` picks
    some) with seed 0 after ``epochs`` epochs; never touches the test set."""
    x_tr, y_tr, x_val, y_val = data[:4]
    rows = []
    for number, (name, overrides) in enumerate(CANDIDATES.items(), start=1):
        if only and number not in only:
            continue
        _, history, seconds = _train({**overrides, "epochs": epochs}, 0, x_tr, y_tr, x_val, y_val)
        best_epoch = max(history, key=lambda h: h["val_accuracy"])
        rows.append(
            {
                "candidate": name,
                "overrides": overrides,
                "val_accuracy": history[-1]["val_accuracy"],
                "best_val_accuracy": best_epoch["val_accuracy"],
                "train_seconds": seconds,
            }
        )
        print(f"{name}: val {100 * rows[-1]['val_accuracy']:.2f}%", file=sys.stderr, flush=True)
    print(f"| candidate ({epochs} epochs, seed 0) | validation accuracy (last epoch) | best epoch | time |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['candidate']} | {100 * r['val_accuracy']:.2f}% | {100 * r['best_val_accuracy']:.2f}% "
            f"| {r['train_seconds']:.0f} s |"
        )
    return rows


def final(data, seeds: list[int]) -> dict:
    """The chosen recipe over ``seeds``: validation and (once) test accuracy, beside the baselines."""
    rows = []
    for seed in seeds:
        rows.append(run_seed("best", seed, data, dataset="fashion-mnist"))
        print(f"seed {seed}: test {100 * rows[-1]['test_accuracy']:.2f}%", file=sys.stderr, flush=True)
    accs = [r["test_accuracy"] for r in rows]
    mean, std = statistics.mean(accs), (statistics.stdev(accs) if len(accs) > 1 else 0.0)
    print("\n".join(seed_table(rows)))
    print(f"| mean ± std | | | | {100 * mean:.2f} ± {100 * std:.2f}% |")
    print()
    print("| Fashion-MNIST benchmark (published, test accuracy) | |")
    print("|---|---:|")
    for name, acc in BASELINES:
        print(f"| {name} | {acc:.1f} % |")
    ours = f"nnscratch `--preset best --dataset fashion-mnist` (this run, {len(rows)} seeds)"
    print(f"| {ours} | {100 * mean:.2f} % |")
    return {"rows": rows, "mean_test_accuracy": mean, "std_test_accuracy": std}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search", action="store_true", help="compare the candidates on validation only")
    parser.add_argument("--search-epochs", type=int, default=20)
    parser.add_argument("--candidates", default="", help="with --search: only these (e.g. 2,3; from 1)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    ds = load_dataset("fashion-mnist", args.data_dir)
    data = split_data(ds, "official", 0.15, 42)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), 1 thread")
    with threadpool_limits(limits=1):
        if args.search:
            only = [int(c) for c in args.candidates.split(",") if c]
            result: object = search(data[:4], args.search_epochs, only)
        else:
            result = final(data, [int(s) for s in args.seeds.split(",")])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
