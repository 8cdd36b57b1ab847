"""The trainer's internals after issue 9: loop control out of ``metadata``, the engines own the epoch
loops and the optimizer's step count, the BLAS thread limit is an explicit argument, pickling leaves the
engine behind, and buffers are reused (augmentation)."""

from __future__ import annotations

import copy
import pickle
import tracemalloc

import numpy as np
import pytest

from nnscratch import DeepNeuralNetwork
from nnscratch.images.augment import Augmenter, warp_affine
from nnscratch.training.callbacks import Callback
from nnscratch.training.modelfile import load_arrays, save_arrays


def data(rng, n=192):
    x = rng.integers(0, 256, (n, 784), dtype=np.uint8)
    y = (x[:, 300:340].mean(axis=1) // 26).astype(np.intp) % 10
    return x, y


def net_(**kw):
    options = {
        "sizes": [784, 12, 10],
        "epochs": 1,
        "batch_size": 16,
        "optimizer": "adam",
        "l_rate": 0.01,
        "seed": 3,
        "verbose": False,
        "augment": {"max_shift": 1.0},
    }
    return DeepNeuralNetwork(**{**options, **kw})


class StopAt(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_a_second_run_resumes_bit_identically_and_loop_control_is_not_metadata(tmp_path, rng):
    """The cosine schedule of a second ``train`` call counts from that call's start: a resume must
    know where it started (training_state, in the checkpoint), not the user's metadata."""
    x, y = data(rng)
    straight = net_()
    straight.train(x, y)
    straight.epochs = 2
    straight.train(x, y)
    interrupted = net_()
    interrupted.train(x, y)
    interrupted.epochs = 2
    with pytest.raises(KeyboardInterrupt):
        interrupted.train(x, y, callbacks=[StopAt(2)], checkpoint_dir=tmp_path)
    assert interrupted.metadata == {} and interrupted.training_state.run_start == 1
    resumed = DeepNeuralNetwork.resume(tmp_path, x, y)
    assert [h["lr"] for h in resumed.history] == [h["lr"] for h in straight.history]
    for key in straight.params:
        assert np.array_equal(resumed.params[key], straight.params[key]), key
    assert "run_start" not in resumed.metadata and "target_epochs" not in resumed.metadata


def test_a_checkpoint_with_loop_control_in_metadata_still_resumes(tmp_path, rng):
    """Files written before training_state existed kept run_start/target_epochs in metadata."""
    x, y = data(rng)
    straight = net_(epochs=3)
    straight.train(x, y)
    interrupted = net_(epochs=3)
    with pytest.raises(KeyboardInterrupt):
        interrupted.train(x, y, callbacks=[StopAt(1)], checkpoint_dir=tmp_path)
    arrays, meta = load_arrays(tmp_path / "last.npz")
    meta["metadata"] = {**meta["metadata"], **meta.pop("training_state")}  # the old layout
    for key in ("format", "format_version"):
        meta.pop(key)
    save_arrays(tmp_path / "last.npz", arrays, meta)
    resumed = DeepNeuralNetwork.resume(tmp_path, x, y)
    assert len(resumed.history) == 3 and resumed.metadata == {}
    for key in straight.params:
        assert np.array_equal(resumed.params[key], straight.params[key]), key


@pytest.mark.parametrize(("optimizer", "batch_size"), [("sgd", 16), ("adam", 16), ("sgd", 1)])
def test_the_engines_count_optimizer_steps(optimizer, batch_size, rng):
    x, y = data(rng, 100)
    net = net_(optimizer=optimizer, batch_size=batch_size, epochs=2, augment=None)
    net.train(x, y)
    steps_per_epoch = 7 if batch_size == 16 else 0  # the per-sample kernel has no optimizer steps
    assert net.optimizer.t == 2 * steps_per_epoch


def test_pickling_a_trainer_leaves_its_engine_behind(rng):
    x, y = data(rng)
    net = net_(dropout=0.1)
    net.train(x, y)
    assert hasattr(net, "_engine")
    state = net.__getstate__()
    assert "_engine" not in state and "params" not in state
    twin, clone = copy.deepcopy(net), pickle.loads(pickle.dumps(net))
    assert not hasattr(clone, "_engine")
    twin.train(x, y)
    clone.train(x, y)
    for key in net.params:
        assert np.array_equal(twin.params[key], clone.params[key]), key


def test_blas_threads_is_an_explicit_argument_restored_after_the_epoch(rng):
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads() -> set[int]:
        return {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}

    seen: list[set[int]] = []

    class Watch(Callback):
        def on_progress(self, n):
            seen.append(blas_threads())

    x, y = data(rng, 64)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        outside = blas_threads()
        if outside == {1}:
            pytest.skip("this BLAS runs one thread only")
        net = net_(batch_size=1, optimizer="sgd", augment=None)
        net.train(x, y, callbacks=[Watch()])
        assert seen and all(s == {1} for s in seen)  # the default: 1 thread inside the epoch
        assert blas_threads() == outside  # and put back afterwards
        seen.clear()
        net.blas_threads = None
        net.train(x, y, callbacks=[Watch()])
        assert seen and all(s == outside for s in seen)


def test_augmentation_reuses_its_buffers(rng):
    """After a first call, augmenting a batch of 128 allocates no megabytes of temporaries."""
    x = rng.integers(0, 256, (128, 784), dtype=np.uint8)
    out = np.empty((128, 784), np.float32)
    aug = Augmenter(shear=5.0)
    aug(x, np.random.default_rng(0), out=out)
    tracemalloc.start()
    try:
        aug(x, np.random.default_rng(0), out=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200_000, f"{peak} bytes allocated for one batch"


def test_reused_buffers_give_the_same_images_whatever_came_before(rng):
    x = rng.random((40, 28, 28)).astype(np.float32)
    matrices, shifts = Augmenter(shear=10.0).sample(40, np.random.default_rng(1))
    first = warp_affine(x, matrices, shifts)
    warp_affine(rng.random((300, 28, 28)).astype(np.float32), matrices[:1], shifts[:1])  # other content
    warp_affine(rng.integers(0, 256, (5, 20, 30), dtype=np.uint8), matrices[:1], shifts[:1])  # other size
    np.testing.assert_array_equal(warp_affine(x, matrices, shifts), first)
    wide = np.ones((40, 785), np.float32)  # a strided view, as the engines pass their input buffer
    wide[:, :784] = x.reshape(40, 784)
    np.testing.assert_array_equal(warp_affine(wide[:, :784], matrices, shifts).reshape(40, 28, 28), first)


def test_rows_of_any_square_size_are_images(rng):
    x = rng.random((3, 256)).astype(np.float32)
    shift = np.array([[0.0, 1.0]] * 3)
    out = warp_affine(x, np.eye(2), shift)  # one pixel to the right, zeros coming in
    images = x.reshape(3, 16, 16)
    np.testing.assert_allclose(out.reshape(3, 16, 16)[:, :, 1:], images[:, :, :-1], atol=1e-6)
    assert not out.reshape(3, 16, 16)[:, :, 0].any()
