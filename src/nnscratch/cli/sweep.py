"""``nnscratch sweep CONFIG.toml``: train a grid of configurations x seeds and tabulate mean ± std.

The runs go to local processes (``--jobs N``) or to a Dask cluster through joblib's dask backend
(``--dask tcp://HOST:PORT``, or ``--dask-local N`` to start N single-threaded worker processes on
127.0.0.1); the data is sent to each Dask worker once. A run that fails is listed with its error, and
the exit code is then 1. Ctrl-C stops the sweep and keeps the results of the runs that finished.
Results: ``results.csv`` (one row per run), ``results.json`` and ``summary.md`` in ``--out``.
See ``nnscratch.sweep.runner`` for the file format.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

from nnscratch.cli import common
from nnscratch.errors import NNScratchError

DESCRIPTION = (
    "Train every configuration of a sweep file (a [grid] of DeepNeuralNetwork options and/or [[configs]]) "
    "once per seed, in local processes or on a Dask cluster, and write results.csv, results.json and "
    "summary.md (mean ± std over seeds). A failed run is listed with its error and makes the exit code 1; "
    "Ctrl-C keeps the finished runs' results."
)


def _jobs(text: str) -> int:
    value = common._number(int, text)
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (or -1 for all cores), got {text}")
    return value


def register(subparsers) -> None:
    """Add the ``sweep`` verb."""
    p = common.add_verb(
        subparsers,
        "sweep",
        "train a grid of configurations x seeds in parallel; report mean ± std accuracy",
        DESCRIPTION,
    )
    p.add_argument("config", type=Path, metavar="CONFIG.toml", help="the sweep description (TOML)")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--jobs", type=_jobs, default=1, metavar="N", help="local worker processes (-1: one per core)"
    )
    where.add_argument("--dask", metavar="tcp://HOST:PORT", help="run on the Dask scheduler at this address")
    where.add_argument(
        "--dask-local",
        type=common.positive_int,
        metavar="N",
        help="start a local Dask cluster of N single-threaded worker processes",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output directory [sweeps/<name>, whose earlier results are replaced; "
        "a folder named here is never overwritten without --force]",
    )
    p.add_argument("--force", action="store_true", help="replace the results already in --out DIR")
    common.add_data_dir_option(p)
    p.set_defaults(handler=run_sweep_command)


def _report(results: list[dict]):
    def report(record: dict, done: int, total: int) -> None:
        results.append(record)
        outcome = (
            f"{100 * record['accuracy']:.2f}%" if record["status"] == "ok" else f"FAILED ({record['error']})"
        )
        print(
            f"[{done}/{total}] {record['label']}, seed {record['seed']}: {outcome} "
            f"in {record['time_s']:.1f} s",
            flush=True,
        )

    return report


def _run(args, sweep, data, finished: list[dict]) -> str:
    """Run the sweep (records arrive in ``finished``); return a description of the backend."""
    from nnscratch.sweep.runner import dask_client, run_sweep

    try:
        if args.dask is not None or args.dask_local is not None:
            with dask_client(args.dask, args.dask_local) as client:
                workers = len(client.scheduler_info().get("workers", {}))
                backend = f"dask ({args.dask or 'LocalCluster'}, {workers} workers)"
                print(f"running on {backend}", flush=True)
                run_sweep(sweep, data, client=client, on_result=_report(finished))
        else:
            backend = f"joblib loky, {args.jobs} job(s)"
            run_sweep(sweep, data, jobs=args.jobs, on_result=_report(finished))
    except ImportError as exc:
        raise NNScratchError(str(exc)) from exc
    return backend


def _check_out(args, name: str) -> Path:
    """The output folder, checked before any run: writable, and earlier results are replaced only in
    the default folder (said up front) or with --force."""
    out = args.out or Path("sweeps") / name
    common.check_writable_dir(out, "--out")
    if not (out / "results.json").exists():
        return out
    if args.out is None:
        print(f"(the results will replace those in {out}; --out DIR keeps them)", file=sys.stderr)
    elif not args.force:
        raise common.UsageError(f"--out {out} holds an earlier sweep's results; pass --force to replace them")
    return out


def run_sweep_command(args) -> int:
    """Run the sweep, write and print its results; 1 if a run failed, 130 if interrupted."""
    from nnscratch.sweep.report import markdown_table, summarize, write_results
    from nnscratch.sweep.runner import load_arrays, load_sweep

    sweep = load_sweep(args.config)
    out = _check_out(args, sweep.name)
    data, data_info = load_arrays(sweep.dataset, args.data_dir, sweep.train_size, sweep.test_size)
    n_runs = len(sweep.configs) * len(sweep.seeds)
    print(
        f"{sweep.name}: {len(sweep.configs)} configuration(s) x {len(sweep.seeds)} seed(s) = {n_runs} runs "
        f"on {len(data[1])} training / {len(data[3])} test images of {sweep.dataset}"
    )
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    start = time.perf_counter()
    finished: list[dict] = []
    interrupted = False
    try:
        backend = _run(args, sweep, data, finished)
    except KeyboardInterrupt:
        interrupted, backend = True, "interrupted"
    if interrupted and not finished:
        print("nnscratch: interrupted before any run finished; nothing was written", file=sys.stderr)
        return 130
    order = {(r["config"], r["seed"]): i for i, r in enumerate(sweep.runs())}
    results = sorted(finished, key=lambda r: order[(r["config"], r["seed"])])
    info = {
        "backend": backend,
        "started": started,
        "elapsed_s": time.perf_counter() - start,
        "data": data_info,
        "complete": not interrupted,
    }
    sizes = (len(data[1]), len(data[3]))
    paths = write_results(out, sweep, results, info, sizes)
    where = ", ".join(str(p) for p in paths.values())
    if interrupted:
        print(
            f"nnscratch: interrupted; the {len(results)} of {n_runs} runs that finished are in {where}",
            file=sys.stderr,
        )
        return 130
    print()
    print(markdown_table(sweep, summarize(sweep, results), sizes))
    failed = sum(r["status"] != "ok" for r in results)
    print("results written to " + where)
    if failed:
        print(
            f"nnscratch: error: {failed} of {len(results)} runs failed (see the table and {paths['csv']})",
            file=sys.stderr,
        )
        return 1
    return 0
