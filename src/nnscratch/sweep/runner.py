"""Sweeps: a grid (or list) of training configurations × seeds, run in parallel, summarised as mean ± std.

A sweep is described by a TOML file::

    name = "tutorial-seeds"           # optional (default: the file's stem)
    seeds = [0, 1, 2, 3, 4]           # every configuration is trained once per seed
    threads = 1                       # BLAS threads per run (optional, default 1)

    [data]
    dataset = "mnist"                 # any dataset nnscratch.data.load_dataset knows
    train_size = 2000                 # use the first N training / test images (default: all)
    test_size = 500

    [base]                            # DeepNeuralNetwork arguments shared by every configuration
    preset = "tutorial"               # optional: start from a named preset (nnscratch.training.presets)
    epochs = 2

    [grid]                            # every combination of these values ...
    l_rate = [0.05, 0.1]
    batch_size = [1, 32]

    [[configs]]                       # ... crossed with each of these (optional) configurations
    label = "adam"                    # optional name shown in the table
    optimizer = "adam"

Each run builds a :class:`~nnscratch.DeepNeuralNetwork` (``seed`` = the run's seed), trains it on the
training subset and reports its accuracy and loss on the test subset. A run that fails (a bad option,
a diverging loss) is recorded with its error instead of stopping the sweep. Runs go through joblib:
processes on this machine (``jobs``), or a Dask cluster through joblib's ``dask`` backend, with the
data scattered to every worker once before the first run.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import inspect
import itertools
import logging
import math
import os
import platform
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnscratch._optional import optional, require
from nnscratch.errors import NNScratchError
from nnscratch.training.engines import limit_blas_threads

RESERVED = ("seed", "verbose", "callbacks")
TOP_KEYS = ("name", "seeds", "threads", "data", "base", "grid", "configs")
DATA_KEYS = ("dataset", "train_size", "test_size")


class SweepConfigError(NNScratchError, ValueError):
    """A sweep configuration file is missing, unreadable or malformed."""


@dataclass
class Sweep:
    """A parsed sweep: ``runs()`` lists the (configuration, seed) pairs to train."""

    name: str
    seeds: list[int]
    base: dict = field(default_factory=dict)
    configs: list[dict] = field(default_factory=lambda: [{}])
    dataset: str = "mnist"
    train_size: int | None = None
    test_size: int | None = None
    threads: int = 1

    def value(self, index: int, key: str):
        """Option ``key`` of configuration ``index``: its own, the base's, or DeepNeuralNetwork's default."""
        config = self.configs[index]
        return config[key] if key in config else self.base.get(key, _network_defaults().get(key))

    @property
    def varied(self) -> list[str]:
        """Options that differ between configurations (the table's columns), in first-seen order."""
        keys = dict.fromkeys(k for c in self.configs for k in c if k != "label")
        return [
            k for k in keys if len({format_value(self.value(i, k)) for i in range(len(self.configs))}) > 1
        ]

    @property
    def labelled(self) -> bool:
        """Whether any configuration has an explicit ``label``."""
        return any("label" in c for c in self.configs)

    def label(self, index: int) -> str:
        """The configuration's ``label`` (if any) and its varied options, e.g. ``adam, l_rate=0.1``."""
        config = self.configs[index]
        parts = [str(config["label"])] if "label" in config else []
        parts += [f"{k}={format_value(self.value(index, k))}" for k in self.varied]
        return ", ".join(parts) or "base"

    def options(self, index: int) -> dict:
        """The DeepNeuralNetwork arguments of configuration ``index`` (the seed excluded)."""
        return {**self.base, **{k: v for k, v in self.configs[index].items() if k != "label"}}

    def runs(self) -> list[dict]:
        return [
            {"config": i, "label": self.label(i), "seed": seed, "options": self.options(i)}
            for i in range(len(self.configs))
            for seed in self.seeds
        ]


@functools.cache
def _network_defaults() -> dict:
    from nnscratch.training.trainer import DeepNeuralNetwork

    parameters = inspect.signature(DeepNeuralNetwork.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def format_value(value) -> str:
    return "-".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _toml():
    tomllib = optional("tomllib")  # Python 3.11+; on 3.10 its backport, tomli (in the dask extra)
    return tomllib or require("tomli", "dask", "reading sweep files on Python 3.10")


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read and validate a sweep TOML file (:class:`SweepConfigError` naming the file when it is wrong)."""
    path = Path(path)
    toml = _toml()
    try:
        with open(path, "rb") as fh:
            data = toml.load(fh)
    except FileNotFoundError:
        raise SweepConfigError(f"sweep file {path} does not exist") from None
    except OSError as exc:
        raise SweepConfigError(f"sweep file {path} cannot be read: {exc.strerror}") from None
    except toml.TOMLDecodeError as exc:
        raise SweepConfigError(f"sweep file {path} is not valid TOML: {exc}") from None
    return parse_sweep(data, source=str(path), default_name=path.stem)


def parse_sweep(data: dict, source: str = "<sweep>", default_name: str = "sweep") -> Sweep:
    """Build a :class:`Sweep` from the parsed TOML ``data`` (``source`` names it in errors)."""

    def fail(what: str) -> SweepConfigError:
        return SweepConfigError(f"sweep file {source}: {what}")

    _check_keys(data, TOP_KEYS, "", fail)
    seeds = _seeds(data.get("seeds", [0]), fail)
    tables = {k: data.get(k, {}) for k in ("data", "base", "grid")}
    for key, value in tables.items():
        if not isinstance(value, dict):
            raise fail(f"[{key}] must be a table")
    _check_keys(tables["data"], DATA_KEYS, "[data] ", fail)
    allowed = [k for k in _network_defaults() if k not in RESERVED]
    _check_keys(tables["base"], [*allowed, "preset"], "[base] ", fail, skip=RESERVED)
    _check_keys(tables["grid"], allowed, "[grid] ", fail, skip=RESERVED)
    sizes = {k: tables["data"].get(k) for k in ("train_size", "test_size")}
    for key, value in sizes.items():
        if value is not None and not (isinstance(value, int) and value >= 1):
            raise fail(f"[data] {key} must be a whole number >= 1, got {value!r}")
    grid = tables["grid"]
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise fail(f"[grid] {key} must be a non-empty list of values, got {values!r}")
    configs = data.get("configs", [{}])
    if not isinstance(configs, list) or not configs or not all(isinstance(c, dict) for c in configs):
        raise fail("configs must be a non-empty array of tables ([[configs]])")
    for config in configs:
        _check_keys(config, [*allowed, "label"], "[[configs]] ", fail, skip=RESERVED)
    base = dict(tables["base"])
    dataset = str(tables["data"].get("dataset", "mnist"))
    preset = base.pop("preset", None)
    if preset is not None:
        from nnscratch.training.presets import preset_options

        try:
            base = {k: v for k, v in preset_options(str(preset), dataset, **base).items() if k != "seed"}
        except ValueError as exc:
            raise fail(f"[base] {exc}") from None
    points = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]
    expanded = [{**c, **p} for c in configs for p in points]
    for options in [base, *expanded]:
        reserved = sorted(set(options) & set(RESERVED))
        if reserved:
            raise fail(f"{', '.join(reserved)} cannot be set per configuration (seeds come from 'seeds')")
    threads = data.get("threads", 1)
    if not (isinstance(threads, int) and threads >= 1):
        raise fail(f"threads must be a whole number >= 1, got {threads!r}")
    name = data.get("name", default_name)
    return Sweep(
        name=str(name),
        seeds=list(seeds),
        base=base,
        configs=expanded,
        dataset=dataset,
        threads=threads,
        **sizes,
    )


def _seeds(seeds, fail) -> list[int]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise fail(f"seeds must be a non-empty list of whole numbers >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise fail(f"seeds contains duplicates: {seeds!r}")
    return list(seeds)


def _check_keys(table: dict, valid: Sequence[str], where: str, fail, skip: Sequence[str] = ()) -> None:
    """Fail on the first key of ``table`` not in ``valid`` (nor in ``skip``: keys with a message of
    their own), naming the nearest valid one."""
    for key in table:
        if key in valid or key in skip:
            continue
        near = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.5)
        hint = f"did you mean {near[0]!r}?" if near else f"valid keys: {', '.join(valid)}"
        raise fail(f"unknown {where}key {key!r}; {hint}")


def load_arrays(
    dataset: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
) -> tuple[tuple, dict]:
    """``((x_train, y_train, x_test, y_test), info)`` for ``dataset``: the first ``train_size`` /
    ``test_size`` images of each split as plain in-memory arrays (uint8 images (n, 28, 28), integer
    labels), and where they came from (``source``, ``verified``, ``checksums``)."""
    from nnscratch.data import load_dataset

    ds = load_dataset(dataset, data_dir)
    arrays = (
        np.array(ds.x_train[:train_size]),
        np.array(ds.y_train[:train_size]),
        np.array(ds.x_test[:test_size]),
        np.array(ds.y_test[:test_size]),
    )
    return arrays, {"source": ds.source, "verified": ds.verified, "checksums": dict(ds.checksums)}


def run_one(
    run: dict,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    threads: int = 1,
) -> dict:
    """Train and evaluate one run; return its result record. Never raises: a failure becomes
    ``status="failed"`` with the error."""
    from nnscratch.training.trainer import DeepNeuralNetwork

    record = {
        "config": run["config"],
        "label": run["label"],
        "seed": run["seed"],
        "status": "ok",
        "accuracy": None,
        "test_loss": None,
        "train_loss": None,
        "epochs": 0,
        "time_s": None,
        "error": "",
        "worker": f"{platform.node()}:{os.getpid()}",
    }
    start = time.perf_counter()
    try:
        # divergence is checked below and reported, so its floating-point warnings are not wanted
        with limit_blas_threads(threads), np.errstate(over="ignore", invalid="ignore"):
            net = DeepNeuralNetwork(**run["options"], seed=run["seed"], verbose=False)
            history = net.train(x_train, y_train, callbacks=[])
            loss, accuracy = net.evaluate(x_test, y_test)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the test loss is {loss}")
        record.update(
            accuracy=accuracy,
            test_loss=loss,
            epochs=len(history),
            train_loss=history[-1]["loss"] if history else None,
        )
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the sweep
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    record["time_s"] = time.perf_counter() - start
    return record


def run_sweep(
    sweep: Sweep, data: Sequence[np.ndarray], *, jobs: int = 1, client=None, on_result=None
) -> list[dict]:
    """Run every (configuration, seed) of ``sweep`` on ``data`` = (x_train, y_train, x_test, y_test).

    ``jobs`` processes on this machine (joblib's default backend), or, with a
    ``distributed.Client``, the Dask cluster behind it through joblib's ``dask`` backend; the four
    arrays are then scattered (broadcast) to every worker once, and each run refers to them.
    ``on_result(record, done, total)`` is called as runs finish. Records come back in run order.
    """
    joblib = require("joblib", "dask", "a sweep")
    Parallel, delayed, parallel_config = joblib.Parallel, joblib.delayed, joblib.parallel_config
    runs = sweep.runs()
    data = [np.asarray(a) for a in data]
    calls = (delayed(run_one)(run, *data, threads=sweep.threads) for run in runs)
    if client is not None:
        config = parallel_config(backend="dask", client=client, scatter=data)
        n_jobs = -1
    else:
        config = parallel_config(backend="loky", inner_max_num_threads=sweep.threads)
        n_jobs = jobs
    results: list[dict] = []
    with config:
        parallel = Parallel(n_jobs=n_jobs, batch_size=1, return_as="generator_unordered")
        for record in parallel(calls):
            results.append(record)
            if on_result is not None:
                on_result(record, len(results), len(runs))
    order = {(r["config"], r["seed"]): i for i, r in enumerate(runs)}
    return sorted(results, key=lambda r: order[(r["config"], r["seed"])])


@contextlib.contextmanager
def dask_client(address: str | None = None, local_workers: int | None = None) -> Iterator:
    """A ``distributed.Client`` connected to the scheduler at ``address`` (``tcp://HOST:PORT``), or to
    a new ``LocalCluster`` of ``local_workers`` single-threaded worker processes on 127.0.0.1 (its
    workers start with OMP/MKL/OPENBLAS_NUM_THREADS=1). Closed (and the local cluster stopped) on exit."""
    distributed = require("distributed", "dask", "a Dask sweep")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    if (address is None) == (local_workers is None):
        raise ValueError("give either a scheduler address or a number of local workers")
    for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.core"):
        logging.getLogger(name).setLevel(logging.WARNING)  # no INFO chatter about workers coming and going
    if address is not None:
        try:
            client = Client(address, timeout="20s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SweepConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        with client:
            yield client
        return
    if local_workers is None or local_workers < 1:  # None is excluded above; this tells mypy too
        raise ValueError(f"local_workers must be >= 1, got {local_workers}")
    single = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    with LocalCluster(
        n_workers=local_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
        env=single,
    ) as cluster:
        with Client(cluster, set_as_default=False) as client:
            yield client
