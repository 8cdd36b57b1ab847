"""Optimizers against hand-computed steps; schedules at known points; state round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnscratch import DeepNeuralNetwork
from nnscratch.training.optimizers import (
    SGD,
    Adam,
    AdamW,
    Cosine,
    Exponential,
    StepDecay,
    get_optimizer,
    get_schedule,
)


def run(opt, steps, p0=1.0, grads=(0.5, -1.0, 2.0)):
    params = {"W1": np.array([p0])}
    out = []
    for g in grads[:steps]:
        opt.step(params, {"W1": np.array([g])})
        out.append(float(params["W1"][0]))
    return out


def test_plain_sgd():
    assert run(SGD(lr=0.1), 2) == pytest.approx([1 - 0.05, 1 - 0.05 + 0.1])


def test_momentum_by_hand():
    # v1 = 0.5, p = 1 - 0.1*0.5 = 0.95; v2 = 0.9*0.5 - 1 = -0.55, p = 0.95 + 0.055 = 1.005
    assert run(SGD(lr=0.1, momentum=0.9), 2) == pytest.approx([0.95, 1.005])


def test_nesterov_by_hand():
    # v1 = 0.5, p = 1 - 0.1*(0.5 + 0.9*0.5) = 0.905; v2 = -0.55, p = 0.905 - 0.1*(-1 + 0.9*-0.55) = 1.0545
    assert run(SGD(lr=0.1, momentum=0.9, nesterov=True), 2) == pytest.approx([0.905, 1.0545])


def test_adam_bias_correction_by_hand():
    # Step 1: m = 0.05, v = 0.00025; m̂ = 0.5, v̂ = 0.25 → p = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
    opt = Adam(lr=0.1)
    p1, p2 = run(opt, 2)
    assert p1 == pytest.approx(1 - 0.1 * 0.5 / (0.5 + 1e-8), rel=1e-12)
    m = 0.9 * 0.05 + 0.1 * -1.0
    v = 0.999 * 0.00025 + 0.001 * 1.0
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.999**2)
    assert p2 == pytest.approx(p1 - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8), rel=1e-12)
    assert opt.t == 2


def test_adamw_decays_weights_but_not_biases():
    opt = AdamW(lr=0.1, weight_decay=0.5)
    params = {"W1": np.array([1.0]), "b1": np.array([1.0])}
    opt.step(params, {"W1": np.array([0.0]), "b1": np.array([0.0])})
    assert params["W1"][0] == pytest.approx(1 - 0.1 * 0.5)
    assert params["b1"][0] == 1.0


def test_state_round_trip_continues_identically():
    a = Adam(lr=0.01)
    run(a, 2)
    b = Adam(lr=0.01)
    b.load_state_dict(a.state_dict())
    params_a, params_b = {"W1": np.array([0.3])}, {"W1": np.array([0.3])}
    a.step(params_a, {"W1": np.array([1.5])})
    b.step(params_b, {"W1": np.array([1.5])})
    assert params_a["W1"][0] == params_b["W1"][0]


def test_get_optimizer_names_and_errors():
    assert get_optimizer("momentum", lr=0.1).momentum == 0.9
    assert get_optimizer("nesterov", lr=0.1).nesterov
    assert isinstance(get_optimizer({"name": "adamw", "lr": 0.1, "weight_decay": 0.1}), AdamW)
    with pytest.raises(ValueError, match="learning rate must be a positive"):
        SGD(lr=0)
    with pytest.raises(ValueError, match="momentum"):
        SGD(lr=0.1, momentum=1.0)


def test_schedules_at_known_points():
    assert StepDecay(step_size=2, gamma=0.5)(np.array([0, 1.9, 2, 4.5]), 1.0).tolist() == [1, 1, 0.5, 0.25]
    assert float(Exponential(gamma=0.5)(2.0, 0.8)) == pytest.approx(0.2)
    cos = Cosine(total=10, warmup=2, min_lr=0.0)
    assert float(cos(1.0, 0.1)) == pytest.approx(0.05)  # half way through the warm-up
    assert float(cos(2.0, 0.1)) == pytest.approx(0.1)  # peak after warm-up
    assert float(cos(6.0, 0.1)) == pytest.approx(0.05)  # half way down the cosine
    assert float(cos(10.0, 0.1)) == pytest.approx(0.0)
    assert float(get_schedule("constant")(7.0, 0.3)) == 0.3
    assert get_schedule("cosine", epochs=20).total == 20


def test_default_cosine_restarts_with_each_train_call(rng):
    x = rng.random((64, 4)).astype(np.float32)
    y = rng.integers(0, 2, 64)
    net = DeepNeuralNetwork([4, 3, 2], epochs=2, l_rate=0.1, verbose=False, batch_size=8)
    first = net.train(x, y)[-1]["lr"]
    again = net.train(x, y)
    assert len(again) == 4
    assert first == again[-1]["lr"] and 0 < first < 0.1  # decayed within each call, never stuck at 0
