"""``nnscratch sweep CONFIG.toml``: train a grid of configurations × seeds and tabulate mean ± std.

The runs go to local processes (``--jobs N``) or to a Dask cluster through joblib's dask backend
(``--dask tcp://HOST:PORT``, or ``--dask-local N`` to start N single-threaded worker processes on
127.0.0.1); the data is sent to each Dask worker once. A run that fails is listed with its error.
Results: ``results.csv`` (one row per run), ``results.json`` and ``summary.md`` in ``--out``.
See :mod:`nnscratch.sweep.runner` for the file format.
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

from nnscratch.errors import NNScratchError


def _positive(text: str) -> int:
    value = int(text)
    if value < 1 and value != -1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1 (or -1 for all cores), got {text}")
    return value


def _workers(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text}")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="train a grid of configurations x seeds in parallel; report mean ± std accuracy",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=__doc__,
    )
    p.add_argument("config", type=Path, metavar="CONFIG.toml", help="the sweep description (TOML)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=_positive, default=1, metavar="N",
                       help="local worker processes (-1: one per core)")
    where.add_argument("--dask", metavar="tcp://HOST:PORT", help="run on the Dask scheduler at this address")
    where.add_argument("--dask-local", type=_workers, metavar="N",
                       help="start a local Dask cluster of N single-threaded worker processes")
    p.add_argument("--out", type=Path, help="output directory; sweeps/<name> when not given")
    p.add_argument("--data-dir", type=Path,
                   help="directory with the four IDX files; when not given: $NNSCRATCH_DATA, "
                   "the user cache, then a download")
    p.set_defaults(handler=run_sweep_command)


def run_sweep_command(args) -> int:
    from nnscratch.sweep.report import markdown_table, summarize, write_results
    from nnscratch.sweep.runner import dask_client, load_arrays, load_sweep, run_sweep

    sweep = load_sweep(args.config)
    data, data_info = load_arrays(sweep.dataset, args.data_dir, sweep.train_size, sweep.test_size)
    out = args.out or Path("sweeps") / sweep.name
    n_runs = len(sweep.configs) * len(sweep.seeds)
    print(f"{sweep.name}: {len(sweep.configs)} configuration(s) x {len(sweep.seeds)} seed(s) = {n_runs} runs "
          f"on {len(data[1])} training / {len(data[3])} test images of {sweep.dataset}")

    def report(record: dict, done: int, total: int) -> None:
        outcome = (f"{100 * record['accuracy']:.2f}%" if record["status"] == "ok"
                   else f"FAILED ({record['error']})")
        print(f"[{done}/{total}] {record['label']}, seed {record['seed']}: {outcome} "
              f"in {record['time_s']:.1f} s", flush=True)

    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    start = time.perf_counter()
    try:
        if args.dask is not None or args.dask_local is not None:
            with dask_client(args.dask, args.dask_local) as client:
                workers = len(client.scheduler_info().get("workers", {}))
                backend = f"dask ({args.dask or 'LocalCluster'}, {workers} workers)"
                print(f"running on {backend}", flush=True)
                results = run_sweep(sweep, data, client=client, on_result=report)
        else:
            backend = f"joblib loky, {args.jobs} job(s)"
            results = run_sweep(sweep, data, jobs=args.jobs, on_result=report)
    except ImportError as exc:
        raise NNScratchError(str(exc)) from exc
    info = {"backend": backend, "started": started, "elapsed_s": time.perf_counter() - start,
            "data": data_info}
    sizes = (len(data[1]), len(data[3]))
    paths = write_results(out, sweep, results, info, sizes)
    print()
    print(markdown_table(sweep, summarize(sweep, results), sizes))
    failed = sum(r["status"] != "ok" for r in results)
    if failed:
        print(f"{failed} of {len(results)} runs failed (see the table and {paths['csv']})")
    print("results written to " + ", ".join(str(p) for p in paths.values()))
    return 0
