"""Choose the fine-tuning recipe (``nnscratch.training.finetune.RECIPE``) without touching a test set.

Data, all of it away from the MNIST test set:

* the user: the generated handwriting style of ``tests/handwriting.py`` with seed ``--style-seed``
  (1000), ``--per-class`` (60) pictures of each digit, split per class into a TRAIN half the recipe
  fine-tunes on and a VALIDATION half it is judged on;
* forgetting: the 9,000 MNIST training images ``nnscratch train`` holds out for validation (the base
  network never trained on them); replayed digits come from its 51,000 training images.

Every recipe of the grid (learning rate × passes × replay ratio × augmentation; ``--grid`` to
choose) fine-tunes the base network (``--preset``: tutorial or best) with fine-tune seed 0; the
best few are re-run with seeds 1 and 2. The rule:
the highest mean style-validation accuracy among recipes whose mean MNIST-validation drop is at most
``--margin`` (0.25) points, half the 0.5-point refusal limit, so that a new user's run is unlikely to
be refused; recipes within ``--tolerance`` (0.5 points, under two digits of the 300) of the best
count as equally good, and of those the cheapest (fewest trained images) wins.

    python benchmarks/tune_finetune.py [--preset tutorial] [--per-class 60] [--quick] [--json FILE]
    python benchmarks/tune_finetune.py --preset best --grid '{"lr": [0.005, 0.01, 0.02], "epochs": [5],
        "replay_ratio": [16], "augment": ["mild"]}'      # the learning-rate check of the README
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from threadpoolctl import threadpool_limits  # noqa: E402

from _finetune_common import RESULTS, base_network, mnist_split, style_digits  # noqa: E402
from nnscratch.training.finetune import finetune  # noqa: E402

AUGMENT = {"max_shift": 2.0, "max_rotation": 10.0, "scale_range": [0.9, 1.1]}
MILD = {"max_shift": 1.0, "max_rotation": 5.0, "scale_range": [0.95, 1.05]}
GRID = {
    "lr": [0.005, 0.01, 0.02],
    "epochs": [3, 5, 10],
    "replay_ratio": [4.0, 8.0, 16.0, 32.0],
    "augment": [None, MILD, AUGMENT],
}
QUICK = {"lr": [0.01], "epochs": [5], "replay_ratio": [4.0, 16.0], "augment": [None, MILD]}


def split_style(x, y, per_class: int):
    """First half of each class for training, second half for validation."""
    train = [i for d in range(10) for i in (y == d).nonzero()[0][: per_class // 2]]
    val = [i for d in range(10) for i in (y == d).nonzero()[0][per_class // 2 :]]
    return (x[train], y[train]), (x[val], y[val])


def run(net, recipe, seed, style_train, style_val, replay, mnist_val) -> dict:
    start = time.perf_counter()
    result = finetune(net, *style_train, replay=replay, holdout=0.0, seed=seed, **recipe)
    seconds = time.perf_counter() - start
    tuned = result.network
    return {
        "seed": seed,
        "style_val": tuned.compute_accuracy(*style_val),
        "mnist_val_drop": 100 * (net.compute_accuracy(*mnist_val) - tuned.compute_accuracy(*mnist_val)),
        "seconds": seconds,
        "images": len(style_train[1]) * recipe["epochs"] + result.n_replayed,
    }


def describe(recipe: dict) -> str:
    aug = {"None": "no-aug", str(MILD): "mild-aug", str(AUGMENT): "aug"}.get(
        str(recipe["augment"]), "other-aug"
    )
    return f"lr={recipe['lr']:g} epochs={recipe['epochs']} replay={recipe['replay_ratio']:g} {aug}"


def summarise(recipe: dict, runs: list[dict]) -> dict:
    return {
        "recipe": recipe,
        "name": describe(recipe),
        "runs": runs,
        "style_val": statistics.mean(r["style_val"] for r in runs),
        "mnist_val_drop": statistics.mean(r["mnist_val_drop"] for r in runs),
        "worst_drop": max(r["mnist_val_drop"] for r in runs),
        "images": runs[0]["images"],
        "seconds": statistics.mean(r["seconds"] for r in runs),
    }


def pick(rows: list[dict], margin: float, tolerance: float) -> dict:
    """Among recipes whose mean drop is within ``margin``, those within ``tolerance`` (a fraction)
    of the best mean style accuracy are equally good (a point is 3 digits of 300); take the cheapest."""
    safe = [r for r in rows if r["mnist_val_drop"] <= margin] or rows
    best = max(r["style_val"] for r in safe)
    good = [r for r in safe if r["style_val"] >= best - tolerance]
    return min(good, key=lambda r: (r["images"], r["mnist_val_drop"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--style-seed", type=int, default=1000)
    parser.add_argument("--margin", type=float, default=0.25)
    parser.add_argument("--tolerance", type=float, default=0.005, help="style accuracies this close tie")
    parser.add_argument("--top", type=int, default=6, help="recipes re-run with seeds 1 and 2")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--preset", default="tutorial", help="the base network: tutorial or best")
    parser.add_argument(
        "--grid",
        help='JSON of the grid, e.g. \'{"lr": [0.01], "epochs": [5], "replay_ratio": [16], '
        '"augment": [null, "mild", "wide"]}\'',
    )
    parser.add_argument("--json", help="where to write the results [results/tune_finetune_PRESET.json]")
    args = parser.parse_args(argv)
    data = mnist_split()
    net, _ = base_network(args.preset, data)
    replay, mnist_val = (data[0], data[1]), (data[2], data[3])
    x, y = style_digits(args.per_class, args.style_seed)
    style_train, style_val = split_style(x, y, args.per_class)
    print(
        f"base: style validation {100 * net.compute_accuracy(*style_val):.1f}%, "
        f"MNIST validation {100 * net.compute_accuracy(*mnist_val):.2f}%",
        flush=True,
    )
    grid = json.loads(args.grid) if args.grid else QUICK if args.quick else GRID
    named = {"mild": MILD, "wide": AUGMENT, None: None}
    grid["augment"] = [named.get(a, a) if not isinstance(a, dict) else a for a in grid["augment"]]
    rows = []
    with threadpool_limits(limits=1):
        for values in itertools.product(*grid.values()):
            recipe = dict(zip(grid, values, strict=True))
            rows.append(summarise(recipe, [run(net, recipe, 0, style_train, style_val, replay, mnist_val)]))
            r = rows[-1]
            print(
                f"{r['name']:<40} style {100 * r['style_val']:5.1f}%  MNIST drop "
                f"{r['mnist_val_drop']:+.2f}  {r['seconds']:.1f}s",
                flush=True,
            )
        safe = sorted((r for r in rows if r["mnist_val_drop"] <= args.margin), key=lambda r: -r["style_val"])[
            : args.top
        ]
        finals = []
        for r in safe:
            extra = [run(net, r["recipe"], s, style_train, style_val, replay, mnist_val) for s in (1, 2)]
            finals.append(summarise(r["recipe"], r["runs"] + extra))
    print("\nre-run over fine-tune seeds 0, 1, 2 (style validation, MNIST-validation drop in points):")
    print("| recipe | style validation | MNIST validation drop (mean / worst) | images trained | seconds |")
    print("|---|---:|---:|---:|---:|")
    for r in sorted(finals, key=lambda r: -r["style_val"]):
        print(
            f"| {r['name']} | {100 * r['style_val']:.1f}% | {r['mnist_val_drop']:+.2f} / "
            f"{r['worst_drop']:+.2f} | {r['images']} | {r['seconds']:.1f} |"
        )
    chosen = pick(finals, args.margin, args.tolerance) if finals else None
    print(f"\nchosen: {chosen['name'] if chosen else 'nothing within the margin'}")
    RESULTS.mkdir(exist_ok=True)
    with open(args.json or RESULTS / f"tune_finetune_{args.preset}.json", "w") as fh:
        json.dump({"grid": rows, "finals": finals, "chosen": chosen, "args": vars(args)}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
