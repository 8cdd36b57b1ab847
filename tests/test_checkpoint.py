"""Model files and checkpoints: round trips, exact resume, and clear errors for broken files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from nnscratch import DeepNeuralNetwork
from nnscratch.errors import ModelFileError, TrainingDiverged
from nnscratch.training.callbacks import Callback
from nnscratch.training.modelfile import METADATA_KEY, load_arrays, save_arrays


def data(rng, n=256):
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = (x[:, 10:18, 10:18].mean(axis=(1, 2)) // 26).astype(np.uint8) % 10
    return x, y


def small_net(**kw):
    options = {
        "sizes": [784, 16, 10],
        "epochs": 3,
        "batch_size": 32,
        "optimizer": "adam",
        "l_rate": 0.01,
        "dropout": 0.2,
        "augment": {"max_shift": 1.0, "max_rotation": 5.0},
        "seed": 4,
        "verbose": False,
    }
    return DeepNeuralNetwork(**{**options, **kw})


def test_save_and_load_round_trip(tmp_path, rng):
    x, y = data(rng)
    net = small_net(epochs=1)
    net.train(x, y, x[:50], y[:50])
    net.metadata["dataset_checksums"] = {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb"}
    path = net.save(tmp_path / "model.npz")
    loaded = DeepNeuralNetwork.load(path)
    for key in net.params:
        assert np.array_equal(loaded.params[key], net.params[key])
    assert loaded.history == net.history
    assert loaded.training_config() == net.training_config()
    assert loaded.metadata["dataset_checksums"] == net.metadata["dataset_checksums"]
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    with np.load(path, allow_pickle=False) as npz:  # plain arrays, readable without nnscratch
        assert npz["W1"].shape == (16, 784)
        meta = json.loads(npz[METADATA_KEY].tobytes())
    assert meta["format"] == "nnscratch-model" and meta["config"]["sizes"] == [784, 16, 10]


class StopAfter(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_interrupted_then_resumed_run_is_bit_identical(tmp_path, rng):
    x, y = data(rng)
    straight = small_net()
    straight.train(x, y, x[:64], y[:64])
    interrupted = small_net()
    with pytest.raises(KeyboardInterrupt):
        interrupted.train(x, y, x[:64], y[:64], callbacks=[StopAfter(1)], checkpoint_dir=tmp_path)
    resumed = DeepNeuralNetwork.resume(tmp_path, x, y, x[:64], y[:64])
    assert len(resumed.history) == 3
    for key in straight.params:
        assert np.array_equal(resumed.params[key], straight.params[key]), key
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    assert (tmp_path / "best.npz").exists()


def test_early_stopping_restores_best_weights(rng):
    x, y = data(rng, 128)
    net = small_net(
        epochs=30,
        early_stopping=2,
        monitor="val_loss",
        l_rate=0.05,
        dropout=0.0,
        augment=None,
        schedule="constant",
    )
    history = net.train(x, y, x[:64], y[:64])
    assert len(history) < 30
    best = min(history, key=lambda h: h["val_loss"])
    assert net.evaluate(x[:64], y[:64])[0] == pytest.approx(best["val_loss"], rel=1e-5)
    assert history[-1]["epoch"] - best["epoch"] == 2


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, rng):
    x, y = data(rng, 64)
    net = small_net(epochs=1, optimizer="sgd", dropout=0.0, augment=None, activation="relu", l_rate=0.01)
    net.train(x, y, checkpoint_dir=tmp_path)
    before = (tmp_path / "last.npz").read_bytes()
    net.epochs = 2
    net.optimizer.lr = net.l_rate = 1e38
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match="epoch 2"):
        net.train(x, y, checkpoint_dir=tmp_path)
    assert (tmp_path / "last.npz").read_bytes() == before
    assert np.isfinite(DeepNeuralNetwork.load(tmp_path / "last.npz").params["W1"]).all()


def _write(path, arrays, meta):
    save_arrays(path, arrays, meta)
    return path


@pytest.fixture
def model_file(tmp_path):
    return small_net(epochs=0).save(tmp_path / "m.npz")


def test_truncated_model_file(model_file):
    model_file.write_bytes(model_file.read_bytes()[:500])
    with pytest.raises(ModelFileError, match="m.npz is not a valid model file"):
        DeepNeuralNetwork.load(model_file)


def test_not_a_model_file(tmp_path):
    path = tmp_path / "x.npz"
    path.write_text("hello")
    with pytest.raises(ModelFileError, match="not a valid model file"):
        DeepNeuralNetwork.load(path)
    with pytest.raises(ModelFileError, match="does not exist"):
        DeepNeuralNetwork.load(tmp_path / "missing.npz")


def test_pickled_arrays_are_refused(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, W1=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ModelFileError, match="not a valid model file"):
        load_arrays(path)


def test_npz_without_metadata(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, W1=np.zeros((2, 2)))
    with pytest.raises(ModelFileError, match="no nnscratch metadata"):
        DeepNeuralNetwork.load(path)


def test_wrong_shape_dtype_and_nan(tmp_path, model_file):
    arrays, meta = load_arrays(model_file)
    bad = dict(arrays, W1=arrays["W1"][:, :100])
    with pytest.raises(ModelFileError, match=r"W1 has shape \(16, 100\), expected \(16, 784\)"):
        DeepNeuralNetwork.load(_write(tmp_path / "a.npz", bad, meta))
    bad = dict(arrays, W2=arrays["W2"].astype(np.int32))
    with pytest.raises(ModelFileError, match="W2 has dtype int32"):
        DeepNeuralNetwork.load(_write(tmp_path / "b.npz", bad, meta))
    nan = arrays["b1"].copy()
    nan[0] = np.nan
    with pytest.raises(ModelFileError, match="b1 contains NaN"):
        DeepNeuralNetwork.load(_write(tmp_path / "c.npz", dict(arrays, b1=nan), meta))
    missing = {k: v for k, v in arrays.items() if k != "b2"}
    with pytest.raises(ModelFileError, match=r"missing \['b2'\]"):
        DeepNeuralNetwork.load(_write(tmp_path / "d.npz", missing, meta))


def test_bad_metadata(tmp_path, model_file):
    arrays, meta = load_arrays(model_file)
    with pytest.raises(ModelFileError, match="configuration is invalid"):
        DeepNeuralNetwork.load(
            _write(tmp_path / "a.npz", arrays, {**meta, "config": {**meta["config"], "activation": "nope"}})
        )
    with pytest.raises(ModelFileError, match="format version 99"):
        DeepNeuralNetwork.load(_write(tmp_path / "b.npz", arrays, {**meta, "format_version": 99}))
    with zipfile.ZipFile(tmp_path / "c.npz", "w") as zf:  # metadata that is not JSON
        zf.writestr(METADATA_KEY + ".npy", b"")
    with pytest.raises(ModelFileError):
        DeepNeuralNetwork.load(tmp_path / "c.npz")


def test_save_is_atomic_when_writing_fails(tmp_path, model_file, monkeypatch):
    before = model_file.read_bytes()
    net = small_net(epochs=0)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        net.save(model_file)
    assert model_file.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left behind


def test_resume_keeps_validating_checkpointing_and_calling_back(tmp_path, rng):
    """The resumed epochs are validated, checkpointed and reported like the uninterrupted run's."""
    x, y = data(rng)
    straight = small_net()
    straight.train(x, y, x[:64], y[:64])
    interrupted = small_net()
    with pytest.raises(KeyboardInterrupt):
        interrupted.train(x, y, x[:64], y[:64], callbacks=[StopAfter(1)], checkpoint_dir=tmp_path)
    assert len(DeepNeuralNetwork.load(tmp_path / "last.npz").history) == 1
    seen = []

    class Seen(Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append((epoch, logs["val_accuracy"]))

    resumed = DeepNeuralNetwork.resume(tmp_path, x, y, x[:64], y[:64], callbacks=[Seen()])
    assert seen == [(h["epoch"], h["val_accuracy"]) for h in straight.history[1:]]
    assert [(h["val_loss"], h["lr"]) for h in resumed.history] == [
        (h["val_loss"], h["lr"]) for h in straight.history
    ]
    last = DeepNeuralNetwork.load(tmp_path / "last.npz")
    assert len(last.history) == 3 and np.array_equal(last.params["W1"], straight.params["W1"])


def test_continue_training_a_finished_model_runs_nothing(tmp_path, rng):
    """A finished run owes no epochs, also after a save and load; ``until`` asks for more."""
    x, y = data(rng, 64)
    net = small_net(epochs=1, schedule="constant")  # (a cosine would have decayed to 0 by epoch 2)
    net.train(x, y)
    loaded = DeepNeuralNetwork.load(net.save(tmp_path / "model.npz"))
    for model in (net, loaded):
        before = model.get_params()
        assert len(model.continue_training(x, y)) == 1
        assert all(np.array_equal(before[k], model.params[k]) for k in before)
    history = loaded.continue_training(x, y, until=2)
    assert len(history) == 2 and history[1]["epoch"] == 2
    assert not np.array_equal(loaded.params["W1"], net.params["W1"])
