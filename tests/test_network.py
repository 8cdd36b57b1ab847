"""Behaviour of the network and its training: fast paths equal the readable maths, seeds, learning."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import DeepNeuralNetwork, Network
from nnscratch.errors import TrainingDiverged
from nnscratch.training.engines import BatchEngine, fill_inputs, numpy_ger, rank1, sgd_per_sample_epoch


def blobs(rng, n=300, n_features=20, n_classes=4, spread=0.15):
    """Well separated Gaussian blobs in [0, 1]^n_features: a problem a small net must solve exactly."""
    centres = rng.random((n_classes, n_features))
    y = rng.integers(0, n_classes, n)
    x = np.clip(centres[y] + rng.normal(scale=spread, size=(n, n_features)), 0, 1).astype(np.float32)
    return x, y


def reference_sgd_epoch(net: Network, x, y, order):
    """The tutorial's loop, with the readable methods: one sample at a time."""
    for i in order:
        output = net.forward_pass(x[i])
        changes = net.backward_pass(y[i], output)
        net.update_network_parameters(changes)


PER_SAMPLE_CASES = [
    (activation, loss, bias, use_blas, np.float64)
    for activation in ["sigmoid", "tanh", "relu", "leaky_relu"]
    for loss in ["cross_entropy", "sum_of_squares"]
    for bias in [True, False]
    for use_blas in [True, False]
] + [("sigmoid", "cross_entropy", True, use_blas, np.float32) for use_blas in [True, False]]


@pytest.mark.parametrize(("activation", "loss", "bias", "use_blas", "dtype"), PER_SAMPLE_CASES)
def test_per_sample_kernel_equals_reference_loop(activation, loss, bias, use_blas, dtype, rng):
    """Same weights as the tutorial's loop after 200 samples, to rounding. (Float64 for the ReLU
    family: one unit flipping sides of its kink after float32 rounding makes runs drift apart.)"""
    x = rng.integers(0, 256, size=(200, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 200)
    order = rng.permutation(200)
    kwargs = {"activation": activation, "loss": loss, "bias": bias, "seed": 3, "l_rate": 0.01, "dtype": dtype}
    fast, slow = Network(**kwargs), Network(**kwargs)
    lrs = np.full(200, 0.01)
    total = sgd_per_sample_epoch(fast, x, y, order, lrs, chunk=64, block=24, use_blas=use_blas)
    reference_sgd_epoch(slow, x, y, order)
    assert np.isfinite(total)
    rtol, atol = (1e-6, 1e-8) if dtype == np.float64 else (1e-4, 1e-6)
    for key in slow.params:
        np.testing.assert_allclose(fast.params[key], slow.params[key], rtol=rtol, atol=atol, err_msg=key)
    moved = np.abs(fast.params["W1"] - Network(**kwargs).params["W1"])
    assert moved.max() > 1e-4  # it really trained


def test_per_sample_kernel_is_finite_with_a_huge_logit(rng):
    """A bias of 200 on one output unit: in float32 e^200 overflows, so the fused softmax must shift by
    the maximum logit. Same weights as the readable loop (whose softmax is the stable one), all finite."""
    x = rng.integers(0, 256, size=(64, 784), dtype=np.uint8)
    y = rng.integers(1, 10, 64)  # never class 0: p_y underflows to 0 and the loss is clamped, not inf
    order = rng.permutation(64)
    kwargs = {"sizes": [784, 16, 10], "seed": 4, "l_rate": 0.01, "dtype": np.float32}
    fast, slow = Network(**kwargs), Network(**kwargs)
    for net in (fast, slow):
        net.params["b2"][0] = 200.0
    with np.errstate(over="raise", invalid="raise"):
        total = sgd_per_sample_epoch(fast, x, y, order, np.full(64, 0.01), chunk=32, block=16)
    reference_sgd_epoch(slow, x, y, order)
    assert np.isfinite(total) and total > 64 * 80  # -log(float32 tiny) = 87.3 per sample
    for key in slow.params:
        assert np.isfinite(fast.params[key]).all(), key
        np.testing.assert_allclose(fast.params[key], slow.params[key], rtol=1e-4, atol=1e-6, err_msg=key)
    assert fast.params["b2"][0] == pytest.approx(200.0 - 64 * 0.01, abs=1e-3)  # p_0 = 1 every time


def test_early_stopping_on_val_accuracy_keeps_the_highest(rng, monkeypatch):
    """monitor="val_accuracy" is higher-is-better: with validation results scripted as below, the best
    epoch is 2 (accuracy 0.70), epochs 3 and 4 do not beat it, patience 2 stops after epoch 4 and the
    weights of epoch 2 are put back. (val_loss, lowest at epoch 5, would have chosen differently.)"""
    from nnscratch.training.callbacks import Callback

    x, y = blobs(rng, n=64)
    net = DeepNeuralNetwork(
        [20, 8, 4], epochs=10, early_stopping=2, monitor="val_accuracy", batch_size=8, seed=0, verbose=False
    )
    scripted = iter([(0.9, 0.50), (1.0, 0.70), (0.8, 0.60), (0.7, 0.65), (0.6, 0.90)])  # (loss, accuracy)
    monkeypatch.setattr(net, "evaluate", lambda x_val, y_val: next(scripted))
    snapshots = {}

    class Snapshot(Callback):
        def on_epoch_end(self, epoch, logs):
            snapshots[epoch] = net.get_params()

    history = net.train(x, y, x, y, callbacks=[Snapshot()])
    assert [h["val_accuracy"] for h in history] == [0.50, 0.70, 0.60, 0.65]
    assert net.best["epoch"] == 2 and net.best["value"] == 0.70
    assert not np.array_equal(snapshots[4]["W1"], snapshots[2]["W1"])
    for key in net.params:
        np.testing.assert_array_equal(net.params[key], snapshots[2][key], err_msg=key)


@pytest.mark.parametrize(
    ("sizes", "chunk", "block"),
    [([784, 10], 64, 64), ([784, 32, 16, 8, 10], 50, 16), ([784, 64, 10], 30, 1), ([784, 64, 10], 1000, 200)],
)
def test_per_sample_blocks_of_any_size_equal_the_reference_loop(sizes, chunk, block, rng):
    """Blocks that divide the chunks or not, of one sample, or longer than the data; any depth."""
    x = rng.integers(0, 256, size=(150, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 150)
    order = rng.permutation(150)
    lrs = np.linspace(0.05, 0.01, 150)  # a different rate for every step
    fast, slow = Network(sizes, seed=2, dtype=np.float64), Network(sizes, seed=2, dtype=np.float64)
    sgd_per_sample_epoch(fast, x, y, order, lrs, chunk=chunk, block=block)
    for t, i in enumerate(order):
        slow.l_rate = lrs[t]
        slow.update_network_parameters(slow.backward_pass(y[i], slow.forward_pass(x[i])))
    for key in slow.params:
        np.testing.assert_allclose(fast.params[key], slow.params[key], rtol=1e-9, atol=1e-11, err_msg=key)


def test_rank1_update_blas_and_numpy_agree(rng):
    Wb = rng.normal(size=(5, 8)).astype(np.float32)
    delta, a = rng.normal(size=5).astype(np.float32), rng.normal(size=8).astype(np.float32)
    expected = Wb - 0.1 * np.outer(delta, a)
    for use_blas in (True, False):
        W = Wb.copy()
        rank1(use_blas, W.dtype)(-0.1, a, delta, a=W.T, overwrite_a=1)
        np.testing.assert_allclose(W, expected, rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_minibatch_training_equals_reference_batch_loop(optimizer, rng):
    """train(batch_size=32) = the readable batch forward/backward + optimizer, step for step, including
    the short last batch (250 = 7·32 + 26)."""
    x = rng.integers(0, 256, size=(250, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 250)
    kw = {
        "batch_size": 32,
        "optimizer": optimizer,
        "l_rate": 0.01,
        "seed": 5,
        "epochs": 1,
        "schedule": "constant",
    }
    fast = DeepNeuralNetwork(**kw, verbose=False)
    slow = DeepNeuralNetwork(**kw, verbose=False)
    fast.train(x, y)
    order = slow.rng.permutation(250)
    batches = [order[start : start + 32] for start in range(0, 250, 32)]
    assert len(batches) == 8 and len(batches[-1]) == 26
    for idx in batches:
        grads = slow.backward_pass(y[idx], slow.forward_pass(x[idx]))
        slow.optimizer.step(slow.params, grads)
    assert fast.optimizer.t == slow.optimizer.t == 8
    for key in slow.params:
        np.testing.assert_allclose(fast.params[key], slow.params[key], rtol=1e-4, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("batch_size", [1, 16])
def test_seeded_runs_are_bit_identical(batch_size, rng):
    x, y = blobs(rng)
    runs = []
    for _ in range(2):
        net = DeepNeuralNetwork(
            [20, 16, 4], epochs=2, batch_size=batch_size, seed=11, verbose=False, dropout=0.0
        )
        history = net.train(x, y, x, y)
        runs.append((net.get_params(), [h["loss"] for h in history]))
    for key in runs[0][0]:
        assert np.array_equal(runs[0][0][key], runs[1][0][key])
    assert runs[0][1] == runs[1][1]
    other = DeepNeuralNetwork([20, 16, 4], epochs=2, batch_size=batch_size, seed=12, verbose=False)
    other.train(x, y)
    assert not np.array_equal(other.params["W1"], runs[0][0]["W1"])


@pytest.mark.parametrize(
    "options",
    [
        {"batch_size": 1, "l_rate": 0.1},
        {"batch_size": 8, "l_rate": 0.5},
        {"batch_size": 8, "optimizer": "adam", "l_rate": 0.01, "activation": "relu"},
        {"batch_size": 1, "loss": "sum_of_squares", "l_rate": 0.5, "bias": False},
    ],
)
def test_reaches_100_percent_on_separable_data(options, rng):
    x, y = blobs(rng)
    net = DeepNeuralNetwork([20, 16, 8, 4], epochs=30, seed=0, verbose=False, **options)
    history = net.train(x, y, x, y)
    assert net.compute_accuracy(x, y) == 1.0
    assert history[-1]["loss"] < history[0]["loss"]


def test_train_logs_tutorial_line_and_returns_history(rng, capsys):
    x, y = blobs(rng, n=100)
    net = DeepNeuralNetwork([20, 8, 4], epochs=2, seed=0)
    history = net.train(x, np.eye(4)[y], x, np.eye(4)[y])  # one-hot labels, as in the tutorial
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and len(history) == 2
    assert lines[1].startswith("Epoch: 2, Time Spent: ")
    assert ", Loss: " in lines[1] and lines[1].endswith("%")
    assert set(history[0]) >= {"epoch", "time", "loss", "val_loss", "val_accuracy"}
    # the last epoch was validated with the final weights: recompute its numbers independently
    z = net.logits(x).astype(np.float64)
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    accuracy = float(np.mean(z.argmax(axis=1) == y))
    assert 0.3 < accuracy < 1.0  # a partly trained net: a wrong comparison would show
    assert history[1]["val_accuracy"] == accuracy
    assert history[1]["val_loss"] == pytest.approx(-log_p[np.arange(len(y)), y].mean(), rel=1e-5)
    assert lines[1].endswith(f", Accuracy: {100 * accuracy:.2f}%")
    assert [h["epoch"] for h in history] == [1, 2]


def test_compute_accuracy_accepts_one_hot_and_integers(rng):
    x, y = blobs(rng, n=50)
    net = Network([20, 5, 4], seed=0)
    assert net.compute_accuracy(x, y) == net.compute_accuracy(x, np.eye(4)[y])
    assert net.compute_accuracy(x, net.predict(x)) == 1.0


def test_forward_pass_one_sample_and_batch_agree(rng):
    net = Network(seed=0)
    x = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    batch = net.forward_pass(x)
    assert batch.shape == (3, 10)
    one = net.forward_pass(x[1].reshape(784))
    assert one.shape == (10,)
    np.testing.assert_allclose(one, batch[1], rtol=1e-5)
    np.testing.assert_allclose(batch.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(net.predict_proba(x), batch, rtol=1e-5)
    # what backward_pass reads: a0 (the scaled input), z and a of each layer, and the output p
    assert set(net.cache) == {"a0", "z1", "a1", "z2", "a2", "z3", "p"} and net.cache["p"] is one
    assert one.dtype == net.cache["a0"].dtype == net.cache["z1"].dtype == np.float32  # the network's dtype
    np.testing.assert_allclose(net.cache["a0"], x[1].reshape(784) / 255.0, rtol=1e-6)


def test_tutorial_network_shapes_and_init():
    net = Network(bias=False, seed=0)
    assert [net.params[k].shape for k in net.params] == [(128, 784), (64, 128), (10, 64)]
    assert list(net.params) == ["W1", "W2", "W3"]
    # tutorial init: randn * sqrt(1 / n_out)
    assert net.params["W1"].std() == pytest.approx(np.sqrt(1 / 128), rel=0.02)
    he = Network(init="he", seed=0)
    assert he.params["W1"].std() == pytest.approx(np.sqrt(2 / 784), rel=0.02)
    xavier = Network(init="xavier", seed=0)
    assert np.abs(xavier.params["W1"]).max() <= np.sqrt(6 / (784 + 128))


def test_params_assignment_copies_into_the_network():
    net = Network([4, 3, 2], seed=0)
    net.params["W1"] = np.ones((3, 4))
    assert np.all(net.Wb[0][:, :4] == 1)
    with pytest.raises(ValueError, match="shape"):
        net.params["W1"] = np.ones((4, 3))
    with pytest.raises(KeyError, match="unknown parameter"):
        net.params["W9"] = np.ones(3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sizes": [784]}, "sizes"),
        ({"l_rate": -1}, "l_rate"),
        ({"l_rate": float("nan")}, "l_rate"),
        ({"activation": "swish"}, "unknown activation"),
        ({"loss": "hinge"}, "unknown loss"),
        ({"init": "zeros"}, "unknown init"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": -1}, "epochs"),
        ({"dropout": 1.0}, "dropout"),
        ({"optimizer": "lbfgs"}, "unknown optimizer"),
        ({"monitor": "f1"}, "monitor"),
    ],
)
def test_bad_parameters_get_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DeepNeuralNetwork(**kwargs)


def test_bad_training_data_gets_clear_errors(rng):
    net = DeepNeuralNetwork([20, 4, 3], verbose=False)
    x, y = blobs(rng, n=10, n_classes=3)
    with pytest.raises(ValueError, match="shape"):
        net.train(x[:, :5], y)
    with pytest.raises(ValueError, match="10 images but 9 labels"):
        net.train(x, y[:9])
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        net.train(x, y + 5)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        net.train(bad, y)


def test_divergence_stops_with_a_clear_message(rng):
    x, y = blobs(rng, n=64)
    x *= 1e30
    net = DeepNeuralNetwork([20, 8, 4], epochs=3, l_rate=1e30, batch_size=8, verbose=False, activation="relu")
    with pytest.raises(TrainingDiverged, match=r"epoch 1.*smaller learning rate"):
        with np.errstate(all="ignore"):
            net.train(x.astype(np.float32), y)


def test_batch_engine_handles_a_short_last_batch(rng):
    net = Network([6, 5, 3], seed=0, dtype=np.float64)
    engine = BatchEngine(net, batch_size=8)
    x, y = rng.random((3, 6)), rng.integers(0, 3, 3)
    engine.inputs(3)[...] = x
    engine.forward_backward(3, y)
    reference = net.backward_pass(y, net.forward_pass(x))
    np.testing.assert_allclose(engine.grads["W1"], reference["W1"], rtol=1e-10)


def test_fused_sgd_step_equals_gradient_then_update(rng):
    net = Network([6, 5, 4, 3], seed=0, dtype=np.float64)
    twin = Network([6, 5, 4, 3], seed=0, dtype=np.float64)
    x, y = rng.random((7, 6)), rng.integers(0, 3, 7)
    engine = BatchEngine(net, batch_size=8)
    engine.inputs(7)[...] = x
    engine.forward_backward(7, y, sgd_lr=0.3)
    twin.update_network_parameters(
        {k: 0.3 / twin.l_rate * g for k, g in twin.backward_pass(y, twin.forward_pass(x)).items()}
    )
    for key in net.params:
        np.testing.assert_allclose(net.params[key], twin.params[key], rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="L2"):
        BatchEngine(net, 8, l2=0.1).forward_backward(7, y, sgd_lr=0.3)


def test_deepcopy_and_pickle_keep_weights_and_views(rng):
    import copy
    import pickle

    x, y = blobs(rng, n=64)
    net = DeepNeuralNetwork([20, 8, 4], epochs=1, batch_size=8, optimizer="adam", seed=1, verbose=False)
    net.train(x, y)
    for clone in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(clone.predict_proba(x), net.predict_proba(x))
        assert np.shares_memory(clone.params["W1"], clone.Wb[0])  # views rebuilt, not copies
        clone.train(x, y)
        assert not np.array_equal(clone.params["W1"], net.params["W1"])
        assert np.array_equal(net.params["W1"], net.get_params()["W1"])  # the original is untouched


def test_changing_dropout_between_train_calls_rebuilds_the_engine(rng):
    x, y = blobs(rng, n=64)
    net = DeepNeuralNetwork([20, 8, 4], epochs=1, batch_size=16, seed=0, verbose=False)
    net.train(x, y)
    net.dropout = 0.5
    net.train(x, y)
    assert net._engine.dropout == 0.5 and net._engine.masks[1].shape == (16, 8)


@pytest.mark.parametrize(
    "options",
    [
        {"batch_size": 1},  # the fused per-sample kernel
        {"batch_size": 16},  # mini-batches, SGD step fused into the backward pass
        {"batch_size": 16, "optimizer": "adam"},  # mini-batches, optimizer step
        {"batch_size": 16, "l2": 1e-3},  # plain SGD through the optimizer (L2 is not fused)
        {"batch_size": 10},  # 64 = 6·10 + 4: a short last batch
    ],
)
def test_history_loss_is_the_mean_loss_over_every_sample(options, rng):
    """With a negligible learning rate the weights barely move, so an epoch's loss is the loss of the
    starting network over all 64 samples: every batch (and sample) counts once, divided by 64."""
    x, y = blobs(rng, n=64)
    net = DeepNeuralNetwork(
        [20, 8, 4], epochs=1, l_rate=1e-9, schedule="constant", seed=0, verbose=False, **options
    )
    before = net.loss_value(x, y)
    history = net.train(x, y)
    assert history[0]["loss"] == pytest.approx(before, rel=1e-4)
    assert history[0]["lr"] == 1e-9 and history[0]["val_loss"] is None and history[0]["val_accuracy"] is None
    assert history[0]["epoch"] == 1 and history[0]["time"] > 0


class Recorder:
    """A callback that records every call, in order."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        if not name.startswith("on_"):
            raise AttributeError(name)
        return lambda *args: self.calls.append((name, *args))


@pytest.mark.parametrize(("batch_size", "chunks"), [(100, [1000, 1000, 500]), (1, [1024, 1024, 452])])
def test_callbacks_see_every_event_and_all_progress(batch_size, chunks, rng):
    """Progress arrives in steps of at least 1000 samples (the kernel: its 1024-sample chunks) and adds up
    to the epoch; the hooks come in order with the right arguments."""
    x, y = blobs(rng, n=2500)
    net = DeepNeuralNetwork([20, 8, 4], epochs=2, batch_size=batch_size, seed=0, verbose=False)
    rec = Recorder()
    history = net.train(x, y, callbacks=[rec])
    events = [c[0] for c in rec.calls]
    assert events[0] == "on_train_begin" and rec.calls[0][1:] == (net, 2, 2500)
    assert events[-1] == "on_train_end" and rec.calls[-1][1] is history
    progress = [c[1] for c in rec.calls if c[0] == "on_progress"]
    assert progress == chunks * 2
    epoch_events = [c[:2] for c in rec.calls if c[0] in ("on_epoch_begin", "on_epoch_end")]
    assert epoch_events == [
        ("on_epoch_begin", 1),
        ("on_epoch_end", 1),
        ("on_epoch_begin", 2),
        ("on_epoch_end", 2),
    ]
    assert rec.calls[events.index("on_epoch_end")][2] is history[0]


def test_minibatch_engine_is_built_once_and_steps_are_counted(rng):
    x, y = blobs(rng, n=64)
    net = DeepNeuralNetwork([20, 8, 4], epochs=2, batch_size=16, seed=0, verbose=False)
    assert not net.uses_per_sample_kernel
    net.train(x, y)
    engine = net._engine
    assert net.optimizer.t == 8  # 4 batches a epoch, fused SGD steps counted too
    net.train(x, y)
    assert net._engine is engine and net.optimizer.t == 16  # buffers reused by the next call
    net.batch_size = 32
    net.train(x, y)
    assert net._engine is not engine and net._engine.A[0].shape == (32, 21)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, True),
        ({"optimizer": "momentum"}, False),
        ({"dropout": 0.1}, False),
        ({"l2": 0.01}, False),
        ({"batch_size": 2}, False),
    ],
)
def test_per_sample_kernel_only_for_plain_sgd_one_image_at_a_time(options, expected):
    assert DeepNeuralNetwork([4, 3, 2], **options).uses_per_sample_kernel is expected


def test_learning_rate_logged_is_the_last_step_of_each_epoch(rng):
    """Cosine over 4 epochs of 4 steps: the last step of epoch e is at progress e - 1 + 3/4."""
    x, y = blobs(rng, n=64)
    net = DeepNeuralNetwork([20, 8, 4], epochs=4, batch_size=16, l_rate=0.2, seed=0, verbose=False)
    lrs = [h["lr"] for h in net.train(x, y)]
    expected = [0.1 * (1 + np.cos(np.pi * (e - 1 + 0.75) / 4)) for e in range(1, 5)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_bad_constructor_values_and_data_shapes(rng):
    for kwargs, message in [
        ({"epochs": 2.5}, "epochs"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"l2": -1.0}, "l2 must be >= 0"),
        ({"dropout": -0.1}, "dropout"),
        ({"early_stopping": -1}, "early_stopping"),
        ({"augment": "yes"}, "augment must be"),
    ]:
        with pytest.raises(ValueError, match=message):
            DeepNeuralNetwork([4, 3, 2], **kwargs)
    net = DeepNeuralNetwork([4, 3, 2], epochs=0, verbose=False)
    x, y = rng.random((6, 4)), rng.integers(0, 2, 6)
    assert net.train(x, y) == [] and net.epochs == 0
    with pytest.raises(ValueError, match="give both x_val and y_val"):
        net.train(x, y, x_val=x)
    with pytest.raises(ValueError, match="give both x_val and y_val"):
        net.train(x, y, y_val=y)
    with pytest.raises(ValueError, match="validation data has 6 images but 5 labels"):
        net.train(x, y, x, y[:5])
    with pytest.raises(ValueError, match="training data is empty"):
        net.train(x[:0], y[:0])
    with pytest.raises(ValueError, match=r"training images must have shape \(n, 4\)"):
        net.train(x[0], y)
    with pytest.raises(TypeError, match="uint8 pixels or floats"):
        net.train(x.astype(np.complex64), y)
    with pytest.raises(ValueError, match=r"integer pixel values must lie in 0\.\.255"):
        net.train(np.full((6, 4), 256), y)
    with pytest.raises(ValueError, match="validation images contain NaN"):
        net.train(x, y, np.full_like(x, np.inf), y)


def test_train_accepts_uint8_images_and_28x28_shapes(rng):
    x = rng.integers(0, 256, (32, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 32)
    a = DeepNeuralNetwork([784, 8, 10], epochs=1, batch_size=8, seed=1, verbose=False)
    b = DeepNeuralNetwork([784, 8, 10], epochs=1, batch_size=8, seed=1, verbose=False)
    ha = a.train(x, y, x, y)
    hb = b.train((x / 255.0).reshape(32, 784).astype(np.float32), y, x.reshape(32, 784), np.eye(10)[y])
    np.testing.assert_allclose(a.params["W1"], b.params["W1"], rtol=1e-6)
    assert ha[0]["val_accuracy"] == hb[0]["val_accuracy"]
    assert ha[0]["val_loss"] == pytest.approx(a.evaluate(x, y)[0])


def test_network_construction_limits_and_configuration():
    assert Network().config() == {  # the tutorial's network by default
        "sizes": [784, 128, 64, 10],
        "l_rate": 0.1,
        "activation": "sigmoid",
        "loss": "cross_entropy",
        "bias": True,
        "init": "tutorial",
        "seed": None,
        "dtype": "float32",
    }
    for kwargs, message in [
        ({"sizes": [4, 1]}, "at least 2 classes"),
        ({"sizes": [4, 3, 1]}, "at least 2 classes"),
        ({"sizes": [4, 0, 2]}, "all >= 1"),
        ({"dtype": np.float16}, "dtype must be float32 or float64"),
        ({"l_rate": 0}, "l_rate"),
        ({"l_rate": "0.1"}, "l_rate"),
    ]:
        with pytest.raises(ValueError, match=message):
            Network(**kwargs)
    net = Network(
        [4, 3, 2], l_rate=1, activation="tanh", loss="mse", bias=False, init="he", seed=7, dtype=np.float64
    )
    assert net.config() == {
        "sizes": [4, 3, 2],
        "l_rate": 1.0,
        "activation": "tanh",
        "loss": "sum_of_squares",
        "bias": False,
        "init": "he",
        "seed": 7,
        "dtype": "float64",
    }
    assert repr(net) == "Network(4-3-2, tanh, sum_of_squares)" and net.n_layers == 2
    assert net.layer(2)[1] is None and list(net.params) == ["W1", "W2"]
    assert [Wb.shape for Wb in net.Wb] == [(3, 4), (2, 3)] and net.Wb[0].dtype == np.float64
    with_bias = Network([4, 3, 2], seed=7)
    assert [Wb.shape for Wb in with_bias.Wb] == [(3, 5), (2, 4)] and with_bias.Wb[0].dtype == np.float32
    assert not with_bias.params["b1"].any()  # biases start at zero
    gen = np.random.default_rng(3)
    assert Network([4, 3, 2], seed=gen).rng is gen and Network([4, 3, 2], seed=gen).seed is None
    # the same seed gives the same weights; xavier stays within its limit and fills it
    assert np.array_equal(Network([4, 3, 2], seed=7).params["W1"], Network([4, 3, 2], seed=7).params["W1"])
    xavier = Network([300, 200, 2], init="xavier", seed=0).params["W1"]
    limit = np.sqrt(6 / 500)
    assert np.abs(xavier).max() <= limit and np.abs(xavier).max() > 0.99 * limit


def test_set_params_checks_names_and_copies(rng):
    net = Network([4, 3, 2], seed=0)
    values = {k: rng.normal(size=v.shape) for k, v in net.params.items()}
    net.set_params(values)
    values["W1"][0, 0] = 123.0
    assert net.params["W1"][0, 0] != 123.0 and np.shares_memory(net.params["W1"], net.Wb[0])
    with pytest.raises(ValueError, match=r"missing \['b2'\], unexpected \[\]"):
        net.set_params({k: v for k, v in values.items() if k != "b2"})
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['W9'\]"):
        net.set_params({**values, "W9": np.ones(1)})
    copies = net.get_params()
    copies["W1"][...] = 0
    assert net.params["W1"].any()


def test_inference_in_chunks_one_sample_and_accuracy(rng):
    net = Network([784, 6, 3], seed=0, dtype=np.float64)
    x = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    np.testing.assert_allclose(net.logits(x, chunk=3), net.logits(x), rtol=1e-12)
    one = net.logits(x[4])  # one (28, 28) image
    assert one.shape == (3,) and np.allclose(one, net.logits(x)[4])
    assert net.predict(x[4].reshape(784)) == net.predict(x)[4]
    with pytest.raises(ValueError, match="inputs must have 784 features"):
        net.logits(np.zeros((2, 100)))
    assert Network([784, 6, 3], seed=0).logits(x).dtype == np.float32  # the network's dtype
    small = Network([4, 3, 2], seed=0, dtype=np.float64)  # more rows (10) than features (4), in chunks
    rows = rng.random((10, 4))
    np.testing.assert_allclose(small.logits(rows, chunk=3), [small.logits(r) for r in rows], rtol=1e-12)
    y = net.predict(x)
    wrong = (y + 1) % 3
    assert net.compute_accuracy(x, np.where(np.arange(10) < 4, y, wrong)) == 0.4
    with pytest.raises(ValueError, match="at least one sample"):
        net.compute_accuracy(x[:0], y[:0])


def test_pickled_network_drops_caches_and_engine(rng):
    import pickle

    x, y = blobs(rng, n=32)
    net = DeepNeuralNetwork([20, 8, 4], epochs=1, batch_size=8, seed=0, verbose=False)
    net.train(x, y)
    net.forward_pass(x)
    state = net.__getstate__()
    assert not {"params", "_engine", "cache"} & set(state) and "Wb" in state
    clone = pickle.loads(pickle.dumps(net))
    assert clone.cache == {} and list(clone.params) == list(net.params)


@pytest.mark.parametrize("loss", ["cross_entropy", "sum_of_squares"])
def test_per_sample_kernel_returns_the_summed_loss_before_each_step(loss, rng):
    x = rng.integers(0, 256, size=(50, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 50)
    order = rng.permutation(50)
    kwargs = {"sizes": [784, 12, 10], "loss": loss, "seed": 1, "l_rate": 0.05, "dtype": np.float64}
    fast, slow = Network(**kwargs), Network(**kwargs)
    seen = []
    total = sgd_per_sample_epoch(
        fast, x, y, order, np.full(50, 0.05), chunk=20, block=8, on_progress=seen.append
    )
    expected = 0.0
    for i in order:
        expected += slow.loss_value(x[i], y[i])
        slow.update_network_parameters(slow.backward_pass(y[i], slow.forward_pass(x[i])))
    assert total == pytest.approx(expected, rel=1e-9)
    assert seen == [20, 20, 10]


def test_per_sample_kernel_trains_on_the_augmented_inputs(rng):
    """``augment`` maps each chunk of scaled inputs into a float32 buffer; the kernel trains on that."""
    x = rng.integers(0, 256, size=(40, 784), dtype=np.uint8)
    y = rng.integers(0, 10, 40)
    order = rng.permutation(40)
    kwargs = {"sizes": [784, 12, 10], "seed": 1, "l_rate": 0.05, "dtype": np.float64}
    fast, slow = Network(**kwargs), Network(**kwargs)
    flip = lambda xb, out: np.subtract(1.0, xb, out=out)  # noqa: E731 - writes its float32 output
    sgd_per_sample_epoch(fast, x, y, order, np.full(40, 0.05), chunk=16, augment=flip)
    reference_sgd_epoch(slow, (1.0 - x / 255.0).astype(np.float32).astype(np.float64), y, order)
    for key in slow.params:
        np.testing.assert_allclose(fast.params[key], slow.params[key], rtol=1e-9, atol=1e-12, err_msg=key)


def test_both_engines_clamp_an_underflowing_probability_alike(rng):
    """float32, a bias of 200 on class 0 and labels never 0: p_y underflows to 0 and both engines count
    -log(float32 tiny) = 87.34 per sample rather than infinity."""
    x = rng.random((8, 5)).astype(np.float32)
    y = rng.integers(1, 3, 8)
    net = Network([5, 4, 3], seed=0)
    net.params["b2"][0] = 200.0
    engine = BatchEngine(net, batch_size=8)
    engine.inputs(8)[...] = x
    clamp = -np.log(np.finfo(np.float32).tiny)
    assert engine.forward_backward(8, y) == pytest.approx(8 * clamp, rel=1e-6)
    same = Network([5, 4, 3], seed=0)
    same.params["b2"][0] = 200.0
    kernel = sgd_per_sample_epoch(same, x, y, np.arange(8), np.zeros(8))  # learning rate 0: no steps
    assert kernel == pytest.approx(8 * clamp, rel=1e-6)


def test_batch_engine_arguments_and_input_scaling(rng):
    net = Network([6, 5, 3], seed=0)
    for kwargs, message in [
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"l2": -1}, "l2"),
    ]:
        with pytest.raises(ValueError, match=message):
            BatchEngine(net, 4, **kwargs)
    engine = BatchEngine(net, 4)
    assert engine.A[0].shape == (4, 7) and (engine.A[0][:, 6] == 1).all() and (engine.A[1][:, 5] == 1).all()
    assert engine.inputs(3).shape == (3, 6) and np.shares_memory(engine.inputs(3), engine.A[0])
    pixels = np.array([[0, 51, 255, 102, 204, 153]] * 5, dtype=np.uint8)
    out = np.empty((2, 6), dtype=np.float32)
    fill_inputs(pixels, np.array([4, 1]), out)
    np.testing.assert_allclose(out, [[0, 0.2, 1, 0.4, 0.8, 0.6]] * 2, rtol=1e-6)
    floats = rng.random((5, 6))
    fill_inputs(floats, np.array([3, 0]), out)
    np.testing.assert_allclose(out, floats[[3, 0]].astype(np.float32))
    a = np.zeros((2, 3))
    assert numpy_ger(2.0, np.array([1.0, 2.0]), np.array([1.0, 0.0, -1.0]), a) is a
    np.testing.assert_array_equal(a, [[2, 0, -2], [4, 0, -4]])
    assert rank1(False, np.float64) is numpy_ger


@pytest.mark.parametrize("batch_size", [1, 8])
def test_augmentation_is_applied_to_the_training_batches(batch_size, rng):
    """The same seed with and without augmentation: the first epoch shuffles alike, so only the augmented
    images can make the weights differ."""
    x = rng.integers(0, 256, (32, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 32)
    options = {"sizes": [784, 8, 10], "epochs": 1, "batch_size": batch_size, "seed": 0, "verbose": False}
    plain, augmented = DeepNeuralNetwork(**options), DeepNeuralNetwork(**options, augment={"max_shift": 3.0})
    plain.train(x, y)
    augmented.train(x, y)
    assert not np.allclose(plain.params["W1"], augmented.params["W1"])
