"""Train-speed and memory benchmark: nnscratch vs PyTorch vs scikit-learn vs the float32 matmul floor.

Runs every configuration in its own child process (a clean peak RSS, a clean thread set-up), at each
thread count, round-robin (round 1 of every configuration, then round 2, ...) so that drift in the
machine's speed hits all alike. Prints a markdown table and writes it with a JSON record to
``benchmarks/results/`` (git-ignored). See benchmarks/README.md for what each row means.

    python benchmarks/bench_train.py --quick                 # smoke run, about a minute
    python benchmarks/bench_train.py --threads 1,2 --epochs 3 --rounds 2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from _bench_data import default_data_dir  # noqa: E402
from _bench_report import aggregate, machine_info, markdown, versions  # noqa: E402

#: Defaults, and the smaller ones --quick uses for options not given explicitly.
DEFAULTS = {
    "epochs": 3,
    "rounds": 2,
    "b1_samples": 10_000,
    "floor_reps": 5,
    "sgemm_size": 2048,
    "infer_reps": 20,
    "load_reps": 5,
}
QUICK = {
    "epochs": 1,
    "rounds": 1,
    "b1_samples": 2_000,
    "floor_reps": 2,
    "sgemm_size": 1024,
    "infer_reps": 5,
    "load_reps": 2,
}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
OPENBLAS_TUNING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: Options forwarded verbatim to the child processes.
FORWARD = (
    "epochs",
    "batch",
    "lr",
    "lr_batch",
    "activation",
    "seed",
    "b1_samples",
    "sklearn_batch",
    "floor_reps",
    "sgemm_size",
    "infer_reps",
    "load_reps",
    "data_dir",
)


def default_configs(batch: int) -> list[str]:
    return [
        "floor",
        "torch-b1",
        f"torch-b{batch}",
        "sklearn",
        "nnscratch-b1",
        f"nnscratch-b{batch}",
        "nnscratch-infer",
        "nnscratch-load",
        "nnscratch-cli",
    ]


def valid_config(name: str) -> bool:
    """A configuration name this script knows: fixed names, or torch-bN / nnscratch-bN."""
    fixed = ("floor", "sklearn", "nnscratch-infer", "nnscratch-load", "nnscratch-cli")
    family, sep, size = name.partition("-b")
    return name in fixed or (
        family in ("torch", "nnscratch") and bool(sep) and size.isdigit() and int(size) > 0
    )


def build_parser() -> argparse.ArgumentParser:
    def q(key: str) -> str:
        return f"(default {DEFAULTS[key]}; --quick {QUICK[key]})"

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = p.add_argument
    add("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    add(
        "--configs",
        default=None,
        help="comma-separated, from: floor, torch-bN, sklearn, nnscratch-bN, "
        "nnscratch-infer, nnscratch-load, nnscratch-cli (default: all, with N = 1 and --batch)",
    )
    add("--epochs", type=int, default=None, help=f"epochs per run {q('epochs')}")
    add("--rounds", type=int, default=None, help=f"round-robin repetitions of everything {q('rounds')}")
    add("--batch", type=int, default=128, help="mini-batch size of floor/torch/nnscratch (default 128)")
    add("--lr", type=float, default=0.1, help="learning rate at batch size 1 (default 0.1)")
    add(
        "--lr-batch",
        type=float,
        default=0.5,
        help="learning rate for mini-batches, mean loss over the batch; also scikit-learn (default 0.5)",
    )
    add("--activation", choices=("sigmoid", "relu", "tanh"), default="sigmoid", help="(default sigmoid)")
    add("--seed", type=int, default=0, help="(default 0)")
    add(
        "--b1-samples",
        type=int,
        default=None,
        help=f"samples per torch-b1 epoch, time scaled to 60,000; 0 = all {q('b1_samples')}",
    )
    add("--sklearn-batch", type=int, default=200, help="scikit-learn's batch size (default 200)")
    add("--floor-reps", type=int, default=None, help=f"floor: best of this many epochs {q('floor_reps')}")
    add("--sgemm-size", type=int, default=None, help=f"square sgemm size for GFLOP/s {q('sgemm_size')}")
    add("--infer-reps", type=int, default=None, help=f"nnscratch-infer repetitions {q('infer_reps')}")
    add("--load-reps", type=int, default=None, help=f"nnscratch-load repetitions {q('load_reps')}")
    add(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="directory of the four MNIST .gz files (default $NNSCRATCH_DATA, else ../shared/data/mnist)",
    )
    add(
        "--openblas-env",
        choices=("unset", "keep"),
        default="unset",
        help="unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE together in the children (default unset)",
    )
    add("--timeout", type=float, default=1800.0, help="seconds per child process (default 1800)")
    add("--out-dir", type=Path, default=HERE / "results", help="(default benchmarks/results)")
    add("--json", default=None, help="also write the JSON record here ('-' = stdout)")
    add("--quick", action="store_true", help="small smoke run (1 epoch, 1 round, fewer samples)")
    add("--child", default=None, help=argparse.SUPPRESS)
    add("--child-threads", type=int, default=1, help=argparse.SUPPRESS)
    add("--result", type=Path, default=None, help=argparse.SUPPRESS)
    return p


def fill_defaults(args: argparse.Namespace) -> argparse.Namespace:
    table = QUICK if args.quick else DEFAULTS
    for key, value in table.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------- child


def child_main(args: argparse.Namespace) -> int:
    """Run one configuration in this (fresh) process and write its result as JSON."""
    import resource

    import numpy as np

    args.threads = args.child_threads
    result: dict = {"config": args.child, "threads": args.threads}
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        threadpool_info = threadpool_limits = None
        result["notes_extra"] = ["threadpoolctl missing: threads set by environment only"]
    import _bench_runs

    _bench_runs.LIMIT_THREADS = threadpool_limits
    if threadpool_limits is not None:
        _bench_runs.keep_limits(threadpool_limits(limits=args.threads))
    try:
        result.update(_bench_runs.run(args.child, args))
    except _bench_runs.Skipped as exc:
        result["skipped"] = str(exc)
    result["rss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["numpy"] = np.__version__
    if threadpool_info is not None:
        keys = (
            "user_api",
            "internal_api",
            "prefix",
            "version",
            "architecture",
            "threading_layer",
            "num_threads",
        )
        result["blas"] = [{k: info.get(k) for k in keys} for info in threadpool_info()]
    result["env"] = {k: os.environ.get(k) for k in THREAD_VARS + OPENBLAS_TUNING}
    write_atomic(args.result, json.dumps(result))
    return 0


# -------------------------------------------------------------------------------------------- parent


def child_env(threads: int, openblas_env: str) -> dict[str, str]:
    env = os.environ.copy()
    for var in THREAD_VARS:
        env[var] = str(threads)
    if openblas_env == "unset":
        for var in OPENBLAS_TUNING:
            env.pop(var, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    return env


def spawn(cmd: list[str], env: dict[str, str], cwd: Path, log: Path, timeout: float) -> dict:
    """Run ``cmd``; return its exit code, wall time and peak RSS (from wait4, this child alone)."""
    with open(log, "wb") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                timed_out = True
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"rc": proc.returncode, "wall": wall, "rss_mb": usage.ru_maxrss / 1024, "timed_out": timed_out}


def log_tail(log: Path, lines: int = 3) -> str:
    text = log.read_text(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:]) if text else "(no output)"


def run_one(args: argparse.Namespace, config: str, threads: int, work: Path, tag: str) -> dict:
    env = child_env(threads, args.openblas_env)
    log = work / f"{tag}.log"
    load_before = os.getloadavg()[0]
    if config == "nnscratch-cli":
        if importlib.util.find_spec("nnscratch.cli.train") is None:
            return {"config": config, "threads": threads, "skipped": "nnscratch.cli.train does not exist yet"}
        cwd = work / f"{tag}-cwd"
        cwd.mkdir()
        cmd = [sys.executable, "-m", "nnscratch", "train", "--data-dir", str(args.data_dir), "--epochs", "1"]
        proc = spawn(cmd, env, cwd, log, args.timeout)
        res = {
            "config": config,
            "threads": threads,
            "times": [proc["wall"]],
            "unit": "s/run",
            "accuracy": None,
            "notes": ["whole `nnscratch train --epochs 1` command; target ≤ 200 MB"],
            "info": {"cmd": cmd[1:], "output_tail": log_tail(log)},
        }
    else:
        result_path = work / f"{tag}.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            config,
            "--child-threads",
            str(threads),
            "--result",
            str(result_path),
        ]
        for key in FORWARD:
            cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
        proc = spawn(cmd, env, REPO, log, args.timeout)
        res = (
            json.loads(result_path.read_text())
            if result_path.exists()
            else {"config": config, "threads": threads}
        )
    res["rss_mb"] = proc["rss_mb"]
    res["wall"] = proc["wall"]
    res["loadavg_1min"] = [load_before, os.getloadavg()[0]]  # others' work on the machine shows here
    if proc["rc"] != 0 or (not res.get("times") and not res.get("skipped")):
        why = "timed out" if proc["timed_out"] else f"exit code {proc['rc']}"
        res["error"] = f"{why}: {log_tail(log)}"
    return res


def describe(res: dict) -> str:
    if res.get("skipped"):
        return f"skipped ({res['skipped']})"
    if res.get("error"):
        return f"ERROR {res['error']}"
    times = sorted(res["times"])
    median = times[len(times) // 2]
    return f"{median:.4g} {res['unit']} (median), wall {res['wall']:.1f} s, {res['rss_mb']:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    args = fill_defaults(build_parser().parse_args(argv))
    if args.child:
        return child_main(args)
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    configs = [
        c.strip() for c in (args.configs or ",".join(default_configs(args.batch))).split(",") if c.strip()
    ]
    unknown = [c for c in configs if not valid_config(c)]
    if unknown:
        print(f"bench_train: unknown configuration(s): {', '.join(unknown)} (see --help)", file=sys.stderr)
        return 2
    if not (args.data_dir / "train-images-idx3-ubyte.gz").exists():
        print(
            f"bench_train: no MNIST in {args.data_dir} (use --data-dir or $NNSCRATCH_DATA)", file=sys.stderr
        )
        return 2
    meta = machine_info(args, REPO, OPENBLAS_TUNING)
    meta["options"] = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if not k.startswith("child") and k != "result"
    }
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench_train-") as tmp:
        work = Path(tmp)
        for rnd in range(1, args.rounds + 1):
            for n_threads in threads:
                for config in configs:
                    tag = f"r{rnd}-t{n_threads}-{config}"
                    res = run_one(args, config, n_threads, work, tag)
                    res["round"] = rnd
                    runs.append(res)
                    print(
                        f"[round {rnd}/{args.rounds}] {config} @ {n_threads} thread(s): {describe(res)}",
                        file=sys.stderr,
                        flush=True,
                    )
    meta["loadavg_end"] = os.getloadavg()
    meta["versions"] = versions(runs)
    rows = aggregate(runs, configs, threads, args.batch, args.sklearn_batch)
    table = markdown(meta, rows, args)
    record = {"meta": meta, "rows": rows, "runs": runs}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_md = args.out_dir / f"bench_train-{stamp}.md"
    out_json = args.out_dir / f"bench_train-{stamp}.json"
    write_atomic(out_md, table + "\n")
    write_atomic(out_json, json.dumps(record, indent=1) + "\n")
    print(table)
    print(
        f"\nwritten: {out_md.relative_to(REPO) if out_md.is_relative_to(REPO) else out_md}, {out_json.name}"
    )
    if args.json == "-":
        print(json.dumps(record, indent=1))
    elif args.json:
        write_atomic(Path(args.json), json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
