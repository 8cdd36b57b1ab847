"""The configurations of ``bench_train.py``; each runs inside its own child process.

The parent process sets ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``MKL_NUM_THREADS`` in the
child's environment before anything is imported; the child then also applies
``threadpoolctl.threadpool_limits`` and, for PyTorch, ``torch.set_num_threads``. PyTorch and
scikit-learn are imported only by their own configurations, so each child's peak RSS is its own.

Every runner returns a dict: ``times`` (one entry per epoch or repetition, in ``unit``), ``accuracy``
(test accuracy, or None), ``notes`` (short strings for the table) and ``info`` (anything else).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from _bench_data import load, scaled_float32

SIZES = (784, 128, 64, 10)
N_TRAIN = 60_000

#: ``threadpoolctl.threadpool_limits`` when available (set by the child's main); its limiters are kept.
LIMIT_THREADS: Callable[..., Any] | None = None
_LIMITERS: list[Any] = []


def keep_limits(limiter: Any) -> None:
    """Keep a threadpoolctl limiter alive for the life of the process."""
    _LIMITERS.append(limiter)


def limit_threads(n: int) -> None:
    """(Re)apply the thread limit to every BLAS/OpenMP library loaded so far (e.g. after torch)."""
    if LIMIT_THREADS is not None:
        keep_limits(LIMIT_THREADS(limits=n))


class Skipped(Exception):
    """The configuration cannot run here (a missing optional package or module)."""


def _init_weights(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """nnscratch's "tutorial" init: W ~ randn(n_out, n_in) * sqrt(1/n_out), b = 0, float32."""
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        w = (rng.standard_normal((n_out, n_in)) * np.sqrt(1.0 / n_out)).astype(np.float32)
        layers.append((w, np.zeros(n_out, dtype=np.float32)))
    return layers


def epoch_batches(n: int, batch: int) -> list[int]:
    """Batch sizes of one epoch of ``n`` samples: full batches, then the remainder."""
    return [batch] * (n // batch) + ([n % batch] if n % batch else [])


def gemm_shapes(batch: int, n: int = N_TRAIN) -> list[tuple[int, int, int, int]]:
    """(count, m, k, n) of every GEMM in one mini-batch epoch: forward, dW and (layers > 1) dA."""
    shapes = []
    for b in sorted(set(epoch_batches(n, batch)), reverse=True):
        count = epoch_batches(n, batch).count(b)
        for layer, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
            shapes.append((count, b, n_in, n_out))  # A (b, n_in) @ W.T -> (b, n_out)
            shapes.append((count, n_out, b, n_in))  # delta.T (n_out, b) @ A (b, n_in) -> dW
            if layer > 0:
                shapes.append((count, b, n_out, n_in))  # delta (b, n_out) @ W -> dA (b, n_in)
    return shapes


def run_floor(o: Any) -> dict:
    """Best-of-``floor_reps`` time of the exact float32 GEMMs of one epoch, into preallocated outputs."""
    rng = np.random.default_rng(0)
    weights = [
        rng.standard_normal((m, k), dtype=np.float32) for k, m in zip(SIZES[:-1], SIZES[1:], strict=True)
    ]
    plans = []  # per distinct batch size: (count, list of (a, b, out))
    for b in sorted(set(epoch_batches(N_TRAIN, o.batch)), reverse=True):
        acts = [rng.random((b, s), dtype=np.float32) for s in SIZES]
        deltas = [rng.standard_normal((b, s), dtype=np.float32) for s in SIZES[1:]]
        calls = []
        for i, w in enumerate(weights):
            calls.append((acts[i], w.T, np.empty((b, w.shape[0]), np.float32)))
            calls.append((deltas[i].T, acts[i], np.empty_like(w)))
            if i > 0:
                calls.append((deltas[i], w, np.empty((b, w.shape[1]), np.float32)))
        plans.append((epoch_batches(N_TRAIN, o.batch).count(b), calls))

    def one_epoch() -> float:
        t0 = time.perf_counter()
        for count, calls in plans:
            for _ in range(count):
                for a, bm, out in calls:
                    np.matmul(a, bm, out=out)
        return time.perf_counter() - t0

    one_epoch()  # warm-up
    times = [one_epoch() for _ in range(o.floor_reps)]
    flop = sum(2.0 * c * m * k * n for c, m, k, n in gemm_shapes(o.batch))
    best = min(times)

    size = o.sgemm_size
    a = rng.random((size, size), dtype=np.float32)
    bm = rng.random((size, size), dtype=np.float32)
    out = np.empty((size, size), np.float32)
    np.matmul(a, bm, out=out)
    sq = []
    for _ in range(5):
        t0 = time.perf_counter()
        np.matmul(a, bm, out=out)
        sq.append(time.perf_counter() - t0)
    sgemm_gflops = 2.0 * size**3 / min(sq) / 1e9
    return {
        "times": [best],
        "unit": "s/epoch",
        "accuracy": None,
        "notes": [
            f"best of {o.floor_reps}; {flop / 1e9:.1f} GFLOP/epoch = {flop / best / 1e9:.0f} GFLOP/s",
            f"sgemm {size}²: {sgemm_gflops:.0f} GFLOP/s",
        ],
        "info": {
            "all_times": times,
            "epoch_gflop": flop / 1e9,
            "epoch_gflops": flop / best / 1e9,
            "sgemm_size": size,
            "sgemm_gflops": sgemm_gflops,
        },
    }


def _torch_blas(torch: Any) -> str:
    """Which BLAS libtorch was built with (it is linked in, so threadpoolctl does not see it)."""
    config = torch.__config__.show()
    blas = config.split("BLAS_INFO=", 1)[1].split(",", 1)[0] if "BLAS_INFO=" in config else "?"
    return f"{blas} inside libtorch, CPU capability {torch.backends.cpu.get_cpu_capability()}"


def run_torch(o: Any, batch: int) -> dict:
    """PyTorch CPU: nn.Sequential 784-128-64-10, CrossEntropyLoss (mean), plain SGD, shuffled epochs."""
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise Skipped("torch not installed (pip install torch==2.13.0)") from exc
    torch.set_num_threads(o.threads)
    limit_threads(o.threads)
    data = load(o.data_dir)
    x = torch.from_numpy(scaled_float32(data.x_train))
    y = torch.from_numpy(data.y_train.astype(np.int64))
    x_test = torch.from_numpy(scaled_float32(data.x_test))
    act = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}[o.activation]
    linears = [nn.Linear(n_in, n_out) for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True)]
    with torch.no_grad():
        for lin, (w, b) in zip(linears, _init_weights(o.seed), strict=True):
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
    model = nn.Sequential(linears[0], act(), linears[1], act(), linears[2])
    lr = o.lr if batch == 1 else o.lr_batch
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(o.seed)
    n = len(x)
    used = min(n, o.b1_samples) if batch == 1 and o.b1_samples else n
    times, raw = [], []
    for _ in range(o.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)[:used]
        for i in range(0, used, batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(model(x.index_select(0, idx)), y.index_select(0, idx))
            loss.backward()
            opt.step()
        elapsed = time.perf_counter() - t0
        raw.append(elapsed)
        times.append(elapsed * n / used)
    with torch.inference_mode():
        pred = model(x_test).argmax(1).numpy()
    notes = [f"lr {lr}"]
    if used < n:
        notes.append(f"epochs of {used} random samples, time scaled ×{n / used:g} to 60,000")
    return {
        "times": times,
        "unit": "s/epoch",
        "accuracy": float(np.mean(pred == data.y_test)),
        "notes": notes,
        "info": {
            "raw_times": raw,
            "samples_per_epoch": used,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "torch_blas": _torch_blas(torch),
            "loader": data.loader,
        },
    }


def run_sklearn(o: Any) -> dict:
    """scikit-learn MLPClassifier((128, 64)), SGD without momentum or L2, one partial_fit per epoch."""
    try:
        import sklearn
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError as exc:
        raise Skipped("scikit-learn not installed") from exc
    import warnings

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    limit_threads(o.threads)
    data = load(o.data_dir)
    x = scaled_float32(data.x_train)
    y = data.y_train.astype(np.int64)
    act = {"sigmoid": "logistic", "relu": "relu", "tanh": "tanh"}[o.activation]
    clf = MLPClassifier(
        hidden_layer_sizes=SIZES[1:-1],
        activation=act,
        solver="sgd",
        learning_rate="constant",
        learning_rate_init=o.lr_batch,
        batch_size=o.sklearn_batch,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        max_iter=1,
        shuffle=True,
        random_state=o.seed,
    )
    classes = np.arange(10)
    times = []
    for _ in range(o.epochs):
        t0 = time.perf_counter()
        clf.partial_fit(x, y, classes=classes)
        times.append(time.perf_counter() - t0)
    acc = float(clf.score(scaled_float32(data.x_test), data.y_test.astype(np.int64)))
    return {
        "times": times,
        "unit": "s/epoch",
        "accuracy": acc,
        "notes": [f"batch {o.sklearn_batch}, lr {o.lr_batch}, sklearn's own (Glorot) init"],
        "info": {
            "sklearn": sklearn.__version__,
            "coef_dtype": str(clf.coefs_[0].dtype),
            "loader": data.loader,
        },
    }


def _network_class() -> Callable[..., Any]:
    """``DeepNeuralNetwork`` from wherever the package exports it (``nnscratch``, then its modules)."""
    import importlib

    problems = []
    for module in ("nnscratch", "nnscratch.training.trainer", "nnscratch.network"):
        try:
            return importlib.import_module(module).DeepNeuralNetwork
        except (ImportError, AttributeError) as exc:
            problems.append(f"{module}: {exc}")
    raise Skipped("DeepNeuralNetwork not importable yet (" + "; ".join(problems) + ")")


def _make_net(o: Any, batch: int, epochs: int) -> Any:
    cls = _network_class()
    return cls(
        sizes=list(SIZES),
        epochs=epochs,
        l_rate=o.lr if batch == 1 else o.lr_batch,
        activation=o.activation,
        loss="cross_entropy",
        bias=True,
        init="tutorial",
        optimizer="sgd",
        schedule="constant",  # the same fixed rate as the PyTorch and scikit-learn runs
        batch_size=batch,
        seed=o.seed,
        verbose=False,
    )


def run_nnscratch(o: Any, batch: int) -> dict:
    """nnscratch training on the uint8 images (it scales per batch); epoch times from its history."""
    net = _make_net(o, batch, o.epochs)
    data = load(o.data_dir)
    t0 = time.perf_counter()
    history = net.train(data.x_train, data.y_train)
    wall = time.perf_counter() - t0
    times = [float(h["time"]) for h in history]
    acc = float(net.compute_accuracy(data.x_test, data.y_test))
    return {
        "times": times,
        "unit": "s/epoch",
        "accuracy": acc,
        "notes": [f"lr {o.lr if batch == 1 else o.lr_batch}; uint8 input"],
        "info": {"train_wall": wall, "loss": [h.get("loss") for h in history], "loader": data.loader},
    }


def run_nnscratch_infer(o: Any) -> dict:
    """compute_accuracy over the 10,000 test images, after one mini-batch epoch of training."""
    net = _make_net(o, o.batch, 1)
    data = load(o.data_dir)
    net.train(data.x_train, data.y_train)
    acc = float(net.compute_accuracy(data.x_test, data.y_test))  # warm-up
    times = []
    for _ in range(o.infer_reps):
        t0 = time.perf_counter()
        net.compute_accuracy(data.x_test, data.y_test)
        times.append((time.perf_counter() - t0) * 1e3)
    return {
        "times": times,
        "unit": "ms/10k images",
        "accuracy": acc,
        "notes": [f"median of {o.infer_reps}; after 1 epoch at batch {o.batch}; target ≤ 30 ms"],
        "info": {"loader": data.loader},
    }


def run_nnscratch_load(o: Any) -> dict:
    """Time of nnscratch.data.load_mnist (the first call may build a cache; reported separately)."""
    try:
        from nnscratch.data import load_mnist
    except ImportError as exc:
        raise Skipped(f"nnscratch.data not importable yet ({exc})") from exc
    times = []
    for _ in range(1 + o.load_reps):
        t0 = time.perf_counter()
        ds = load_mnist(data_dir=o.data_dir)
        _ = int(ds.x_train[-1].sum()) + int(ds.y_test[-1])  # touch the data (memory-mapped or not)
        times.append(time.perf_counter() - t0)
        del ds
    return {
        "times": times[1:],
        "unit": "s/load",
        "accuracy": None,
        "notes": [f"median of {o.load_reps} after a first call of {times[0]:.3f} s; target ≤ 0.3 s"],
        "info": {"first_call": times[0]},
    }


def run(config: str, o: Any) -> dict:
    """Dispatch one configuration name to its runner."""
    if config == "floor":
        return run_floor(o)
    if config == "sklearn":
        return run_sklearn(o)
    if config == "nnscratch-infer":
        return run_nnscratch_infer(o)
    if config == "nnscratch-load":
        return run_nnscratch_load(o)
    family, _, size = config.partition("-b")
    if family == "torch" and size.isdigit():
        return run_torch(o, int(size))
    if family == "nnscratch" and size.isdigit():
        return run_nnscratch(o, int(size))
    raise ValueError(f"unknown configuration {config!r}")
