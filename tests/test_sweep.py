"""Sweeps: the TOML format, and real runs on MNIST subsets through joblib and a real Dask LocalCluster."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from nnscratch.cli import main
from nnscratch.sweep.report import markdown_table, summarize
from nnscratch.sweep.runner import SweepConfigError, load_sweep, parse_sweep, run_one, run_sweep

GRID_TOML = """
name = "grid"
seeds = [0, 1]

[data]
train_size = 2000
test_size = 500

[base]
preset = "tutorial"
epochs = 2

[grid]
l_rate = [0.05, 0.1]
batch_size = [1, 32]
"""

FAILING_TOML = """
seeds = [3]
[data]
train_size = 500
test_size = 100
[base]
epochs = 1
schedule = "constant"
[[configs]]
label = "fine"
[[configs]]
label = "diverges"
activation = "relu"
init = "he"
l_rate = 1e6
batch_size = 32
[[configs]]
label = "bad option"
activation = "swish"
"""


# ---------------------------------------------------------------------------- the file format


def test_grid_is_crossed_with_configs_and_preset_fills_the_base(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        'seeds = [4, 2]\n[base]\npreset = "tutorial"\nepochs = 3\n[grid]\nl_rate = [0.1, 0.2]\n'
        '[[configs]]\nlabel = "sgd"\n[[configs]]\nlabel = "adam"\noptimizer = "adam"\n'
    )
    sweep = load_sweep(path)
    assert sweep.name == "s" and sweep.seeds == [4, 2] and sweep.dataset == "mnist"
    assert sweep.base["sizes"] == [784, 128, 64, 10] and sweep.base["epochs"] == 3
    assert "seed" not in sweep.base
    assert sweep.varied == ["l_rate", "optimizer"]
    assert [sweep.label(i) for i in range(4)] == [
        "sgd, l_rate=0.1, optimizer=sgd",
        "sgd, l_rate=0.2, optimizer=sgd",
        "adam, l_rate=0.1, optimizer=adam",
        "adam, l_rate=0.2, optimizer=adam",
    ]
    assert sweep.options(3)["optimizer"] == "adam" and sweep.options(3)["l_rate"] == 0.2
    runs = sweep.runs()
    assert len(runs) == 8 and [r["seed"] for r in runs[:2]] == [4, 2]
    assert "label" not in runs[2]["options"]


@pytest.mark.parametrize("name", ["sweep_tutorial_seeds.toml", "sweep_grid.toml"])
def test_example_sweeps_parse(name):
    sweep = load_sweep(Path(__file__).resolve().parents[1] / "examples" / name)
    assert len(sweep.runs()) == len(sweep.configs) * len(sweep.seeds) >= 10


@pytest.mark.parametrize(
    "data, match",
    [
        ({"seed": [1]}, "unknown key 'seed'; did you mean 'seeds'"),
        ({"base": {"lr": 0.1}}, r"unknown \[base\] key 'lr'; did you mean 'l_rate'"),
        ({"grid": {"batchsize": [1, 2]}}, r"unknown \[grid\] key 'batchsize'; did you mean 'batch_size'"),
        (
            {"configs": [{"optimiser": "adam"}]},
            r"unknown \[\[configs\]\] key 'optimiser'; did you mean 'optimizer'",
        ),
        ({"seeds": []}, "seeds"),
        ({"seeds": [1, 1]}, "duplicates"),
        ({"grid": {"l_rate": 0.1}}, r"\[grid\] l_rate"),
        ({"base": {"seed": 3}}, "seed cannot be set"),
        ({"data": {"train_size": 0}}, "train_size"),
        ({"data": {"subset": "random"}}, r"unknown \[data\] key 'subset'"),
        ({"base": {"preset": "nope"}}, "unknown preset"),
        ({"configs": {"label": "x"}}, "array of tables"),
        ({"threads": 0}, "threads"),
    ],
)
def test_malformed_sweeps_are_named_errors(data, match):
    with pytest.raises(SweepConfigError, match=match):
        parse_sweep(data, source="my.toml")


def test_unreadable_sweep_files(tmp_path):
    with pytest.raises(SweepConfigError, match="does not exist"):
        load_sweep(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("seeds = [1,\n")
    with pytest.raises(SweepConfigError, match=r"bad\.toml is not valid TOML"):
        load_sweep(bad)


def test_summary_statistics_and_table():
    sweep = parse_sweep({"seeds": [0, 1, 2], "grid": {"l_rate": [0.1, 0.2]}}, default_name="t")
    results = [
        {"config": 0, "seed": s, "status": "ok", "accuracy": a, "time_s": 2.0 + s, "error": ""}
        for s, a in zip([0, 1, 2], [0.90, 0.92, 0.94], strict=True)
    ] + [
        {
            "config": 1,
            "seed": s,
            "status": "failed",
            "accuracy": None,
            "time_s": 0.1,
            "error": "TrainingDiverged: boom",
        }
        for s in (0, 1, 2)
    ]
    first, second = summarize(sweep, results)
    assert first["accuracy_mean"] == pytest.approx(0.92) and first["accuracy_std"] == pytest.approx(0.02)
    assert first["time_mean"] == pytest.approx(3.0) and first["failed"] == 0
    assert second["failed"] == 3 and second["accuracy_mean"] is None
    assert second["errors"] == ["TrainingDiverged: boom"]
    table = markdown_table(sweep, [first, second])
    assert "| 0.1 | 3 | 92.00 ± 2.00 | 90.00 – 94.00 | 3.00 ± 1.00 |  |" in table
    assert "| 0.2 | 3 | — | — | — | 3 failed: TrainingDiverged: boom |" in table


# ---------------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def data(mnist_path):
    from nnscratch.sweep.runner import load_arrays

    arrays, info = load_arrays("mnist", mnist_path, 2000, 500)
    assert info["verified"] and arrays[0].shape == (2000, 28, 28)
    return arrays


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from nnscratch.sweep.runner import dask_client

    with dask_client(local_workers=2) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


def _rows(path):
    """The CSV rows without the fields that legitimately differ between runs (time, worker)."""
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k not in ("time_s", "worker")} for row in csv.DictReader(fh)]


def test_sweep_on_a_local_dask_cluster_matches_local_jobs(data, client, mnist_path, tmp_path, capsys):
    config = tmp_path / "grid.toml"
    config.write_text(GRID_TOML)
    common = ["sweep", str(config), "--data-dir", str(mnist_path)]
    address = client.scheduler.address
    assert address.startswith("tcp://127.0.0.1:")
    assert main([*common, "--dask", address, "--out", str(tmp_path / "dask")]) == 0
    out = capsys.readouterr().out
    assert main([*common, "--jobs", "2", "--out", str(tmp_path / "jobs")]) == 0

    dask_rows, job_rows = _rows(tmp_path / "dask" / "results.csv"), _rows(tmp_path / "jobs" / "results.csv")
    assert dask_rows == job_rows  # same seeds, same numbers, whatever ran them
    assert len(dask_rows) == 8 and {r["status"] for r in dask_rows} == {"ok"}
    assert [(r["l_rate"], r["batch_size"], r["seed"]) for r in dask_rows[:4]] == [
        ("0.05", "1", "0"),
        ("0.05", "1", "1"),
        ("0.05", "32", "0"),
        ("0.05", "32", "1"),
    ]
    accuracy = {(r["l_rate"], r["batch_size"]): float(r["accuracy"]) for r in dask_rows}
    assert accuracy[("0.1", "1")] > 0.85  # 2 epochs of per-image SGD on 2000 digits

    doc = json.loads((tmp_path / "dask" / "results.json").read_text())
    assert doc["backend"].startswith("dask") and doc["data"]["verified"]
    assert len(doc["results"]) == 8 and len(doc["summary"]) == 4
    workers = {r["worker"] for r in doc["results"]}
    assert workers <= {f"{name}:{pid}" for name, pid in _worker_ids(client)}
    summary = (tmp_path / "dask" / "summary.md").read_text()
    assert "| l_rate | batch_size | runs | test accuracy (%) |" in summary
    row = doc["summary"][2]  # l_rate 0.1, batch 1
    assert f"| 0.1 | 1 | 2 | {100 * row['accuracy_mean']:.2f} ± {100 * row['accuracy_std']:.2f} |" in summary
    assert summary in out and "[8/8]" in out


def _worker_ids(client):
    import platform

    return [(platform.node(), pid) for pid in client.run(os.getpid).values()]


def test_data_is_scattered_to_every_worker_once(data, client, monkeypatch):
    calls = []
    scatter = client.scatter

    def spy(payload, *args, **kwargs):
        calls.append((payload, kwargs))
        return scatter(payload, *args, **kwargs)

    monkeypatch.setattr(client, "scatter", spy)
    sweep = parse_sweep(
        {"seeds": [0, 1, 2], "base": {"epochs": 1, "batch_size": 50}, "grid": {"l_rate": [0.1, 0.2]}}
    )
    results = run_sweep(sweep, data, client=client)
    assert [r["status"] for r in results] == ["ok"] * 6
    assert len(calls) == 1, "one broadcast of the data, no per-task transfers"
    payload, kwargs = calls[0]
    assert kwargs.get("broadcast") is True
    assert len(payload) == 4 and all(a is b for a, b in zip(payload, data, strict=True))
    assert len({r["worker"] for r in results}) == 2  # both workers took runs


def test_workers_run_single_threaded_blas(client):
    def limits():
        from threadpoolctl import threadpool_info

        return os.environ.get("OMP_NUM_THREADS"), sorted({p["num_threads"] for p in threadpool_info()})

    for env, threads in client.run(limits).values():
        assert env == "1" and threads == [1]


def test_failed_runs_are_reported_not_fatal(data, mnist_path, tmp_path, capsys):
    config = tmp_path / "failing.toml"
    config.write_text(FAILING_TOML)
    assert main(["sweep", str(config), "--data-dir", str(mnist_path), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    rows = _rows(tmp_path / "out" / "results.csv")
    assert [r["status"] for r in rows] == ["ok", "failed", "failed"]
    assert rows[1]["error"].startswith("TrainingDiverged: training diverged in epoch 1")
    assert rows[2]["error"].startswith("ValueError: unknown activation 'swish'")
    table = (tmp_path / "out" / "summary.md").read_text()
    assert "| diverges | relu | he | 1000000.0 | 32 | 1 | — | — | — | 1 failed: TrainingDiverged" in table
    assert captured.err.startswith("nnscratch: error: 2 of 3 runs failed")


def test_grid_search_with_nnscratch_under_the_dask_backend(data, client):
    pytest.importorskip("sklearn")
    from distributed import get_task_stream
    from joblib import parallel_config
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from nnscratch.sklearn import NNScratchClassifier

    x = data[0].reshape(len(data[0]), -1).astype(np.float32)
    y = data[1]
    pipe = make_pipeline(StandardScaler(), NNScratchClassifier((64,), max_iter=15, random_state=0))
    grid = {
        "nnscratchclassifier__learning_rate_init": [1e-3, 3e-3],
        "nnscratchclassifier__alpha": [1e-4, 1e-2],
    }
    with pytest.warns(ConvergenceWarning):
        local = GridSearchCV(pipe, grid, cv=2).fit(x, y)
    with parallel_config(backend="dask", client=client), get_task_stream(client) as tasks:
        with pytest.warns(ConvergenceWarning):  # from the refit, which runs here
            remote = GridSearchCV(pipe, grid, cv=2, n_jobs=-1).fit(x, y)
    assert len(tasks.data) > 0  # the fits ran as tasks on the cluster
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    assert remote.best_score_ > 0.85 and remote.best_params_ == local.best_params_


def test_run_one_never_raises(data):
    record = run_one({"config": 0, "label": "x", "seed": 0, "options": {"sizes": [10, 10]}}, *data)
    assert record["status"] == "failed" and record["error"].startswith("ValueError: training images")
    assert record["time_s"] >= 0 and record["accuracy"] is None


def test_an_interrupted_sweep_keeps_the_finished_runs(mnist_path, tmp_path):
    """A real SIGINT after the first run: exit 130, and the finished runs' results are written."""
    import signal
    import subprocess
    import sys

    config = tmp_path / "long.toml"
    config.write_text(
        "seeds = [0, 1, 2, 3, 4, 5, 6, 7]\n[data]\ntrain_size = 3000\ntest_size = 200\n"
        "[base]\nsizes = [784, 16, 10]\nepochs = 15\nbatch_size = 1\n"
    )
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = ["sweep", str(config), "--data-dir", str(mnist_path), "--out", str(out), "--jobs", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "nnscratch", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert "8 runs" in proc.stdout.readline()
    assert proc.stdout.readline().startswith("[1/8] base, seed 0: ")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    rows = _rows(out / "results.csv")
    assert 1 <= len(rows) < 8 and {r["status"] for r in rows} == {"ok"}
    assert err.strip().endswith(f"the {len(rows)} of 8 runs that finished are in {out / 'results.csv'}, "
                                f"{out / 'results.json'}, {out / 'summary.md'}")  # fmt: skip
    assert json.loads((out / "results.json").read_text())["complete"] is False


def test_a_preset_in_a_sweep_takes_the_dataset_s_own_recipe():
    from nnscratch.training.presets import preset_options

    def base(dataset):
        data = {"seeds": [0], "data": {"dataset": dataset}, "base": {"preset": "best"}}
        return parse_sweep(data, default_name="t").base

    fashion = {k: v for k, v in preset_options("best", "fashion-mnist").items() if k != "seed"}
    assert base("fashion-mnist") == fashion
    assert base("fashion-mnist") != base("mnist")  # digit augmentation is not used on clothes


TINY_SWEEP = """
name = "tiny"
seeds = [0]
[data]
train_size = 300
test_size = 100
[base]
sizes = [784, 16, 10]
epochs = 1
"""


def test_earlier_results_are_never_replaced_silently(mnist_path, tmp_path, monkeypatch, capsys):
    """--out DIR with results in it needs --force; the default sweeps/<name> is replaced, said up front;
    a sweep interrupted before any run finished writes nothing over what was there."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_SWEEP)
    base = ["sweep", str(config), "--data-dir", str(mnist_path)]
    assert main([*base, "--out", "kept"]) == 0
    before = (tmp_path / "kept" / "results.json").read_text()
    capsys.readouterr()
    assert main([*base, "--out", "kept"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "nnscratch: error: --out kept holds an earlier sweep's results; pass --force to replace them"
    )
    assert (tmp_path / "kept" / "results.json").read_text() == before
    (tmp_path / "kept" / "results.json").write_text(json.dumps({**json.loads(before), "marker": 1}))
    assert main([*base, "--out", "kept", "--force"]) == 0
    assert "marker" not in json.loads((tmp_path / "kept" / "results.json").read_text())

    assert main(base) == 0
    assert "replace" not in capsys.readouterr().err  # nothing there yet
    assert main(base) == 0
    default = Path("sweeps") / "tiny"
    assert f"(the results will replace those in {default}; --out DIR keeps them)" in capsys.readouterr().err

    import nnscratch.cli.sweep as cli_sweep

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_sweep, "_run", interrupted)
    kept = (tmp_path / default / "results.csv").read_bytes()
    assert main(base) == 130
    assert capsys.readouterr().err.endswith(
        "nnscratch: interrupted before any run finished; nothing was written\n"
    )
    assert (tmp_path / default / "results.csv").read_bytes() == kept
