"""Teach it your handwriting, measured: before/after accuracy on a held-out part of a generated
handwriting style, MNIST test accuracy before/after, and the time it takes, on one thread.

The "user" is the style of ``tests/handwriting.py`` with a seed (``--style-seed``, 2000) different
from the one the recipe was tuned on (1000), ``--per-class`` (40) pictures per digit written as PNG
files to ``DIR/<digit>/`` and run through exactly what ``nnscratch finetune MODEL DIR`` runs: the
folder reader (the same preprocessing as ``predict``), then the default recipe with a quarter of the
digits held out, the 60,000 MNIST training images to replay from, the official test set. The base
network is ``nnscratch train``'s (a preset, seed 0, 51,000 training images), trained once and cached.
Each fine-tune seed holds out a different quarter. The whole command is also timed once, end to end.

    python benchmarks/bench_finetune.py [--presets tutorial,best] [--seeds 0,1,2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from threadpoolctl import threadpool_limits  # noqa: E402

from _finetune_common import DEFAULT_DATA, RESULTS, base_network, mnist_split  # noqa: E402
from handwriting import write_style_dir  # noqa: E402
from nnscratch.data import load_mnist  # noqa: E402
from nnscratch.images.folders import read_labelled_dir  # noqa: E402
from nnscratch.training.finetune import RECIPE, finetune  # noqa: E402


def run(net, digits, mnist, seed: int) -> dict:
    result = finetune(
        net,
        digits.images,
        digits.labels,
        replay=(mnist.x_train, mnist.y_train),
        test=(mnist.x_test, mnist.y_test),
        seed=seed,
    )
    return {"seed": seed, **result.to_dict()}


def time_command(model: Path, folder: Path, data_dir: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of one whole ``nnscratch finetune`` command."""
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "nnscratch",
                "finetune",
                str(model),
                str(folder),
                "--out",
                str(Path(tmp) / "new.npz"),
                "--data-dir",
                str(data_dir),
                "--no-progress",
            ],
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def table(rows: list[dict]) -> str:
    lines = [
        "| base model | seed | your held-out digits: before → after | MNIST test: before → after | change | "
        "accepted | fine-tune time |",
        "|---|---:|---|---|---:|---|---:|",
    ]
    for r in rows:
        user, test = r["user_holdout"], r["mnist_test"]
        lines.append(
            f"| {r['preset']} | {r['seed']} | "
            f"{pct(user['before'])} → **{pct(user['after'])}** (n={user['n']}) | "
            f"{100 * test['before']:.2f}% → {100 * test['after']:.2f}% | {-test['drop_points']:+.2f} | "
            f"{'yes' if r['accepted'] else 'no'} | {r['seconds']:.1f} s |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tutorial")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--style-seed", type=int, default=2000)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("NNSCRATCH_DATA", DEFAULT_DATA)))
    parser.add_argument("--json", default=str(RESULTS / "bench_finetune.json"))
    args = parser.parse_args(argv)
    data = mnist_split(args.data_dir)
    mnist = load_mnist(args.data_dir)
    rows, commands = [], {}
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1):
        folder = write_style_dir(Path(tmp) / "digits", args.per_class, args.style_seed)
        start = time.perf_counter()
        digits = read_labelled_dir(folder)
        read_seconds = time.perf_counter() - start
        for preset in args.presets.split(","):
            net, path = base_network(preset, data)
            for seed in (int(s) for s in args.seeds.split(",")):
                rows.append({"preset": preset, **run(net, digits, mnist, seed)})
                print(table(rows[-1:]).splitlines()[-1], flush=True)
            commands[preset] = time_command(path, folder, args.data_dir)
    print()
    print(
        f"{len(digits.labels)} pictures ({args.per_class} per digit, style seed {args.style_seed}); "
        f"reading and preprocessing them: {read_seconds:.1f} s; recipe {RECIPE}"
    )
    print(table(rows))
    for preset, (wall, cpu) in commands.items():
        print(
            f"whole `nnscratch finetune` command ({preset} base), end to end: {wall:.1f} s "
            f"({cpu:.1f} s of CPU)"
        )
    for preset in args.presets.split(","):
        mine = [r for r in rows if r["preset"] == preset]
        gain = statistics.mean(r["user_holdout"]["after"] - r["user_holdout"]["before"] for r in mine)
        drop = statistics.mean(r["mnist_test"]["drop_points"] for r in mine)
        print(
            f"{preset}: mean gain on your held-out digits {100 * gain:+.1f} points, "
            f"mean MNIST test change {-drop:+.2f} points"
        )
    machine = (
        f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, 1 BLAS thread"
    )
    print(f"machine: {machine} (shared with other work while measured)")
    RESULTS.mkdir(exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(
            {
                "rows": rows,
                "command_seconds": commands,
                "read_seconds": read_seconds,
                "machine": machine,
                "args": {k: str(v) for k, v in vars(args).items()},
            },
            fh,
            indent=1,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
