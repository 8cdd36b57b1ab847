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


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SGD(lr=float("inf")), "learning rate"),
        (lambda: SGD(lr=0.1, momentum=-0.1), "momentum must be in"),
        (lambda: SGD(lr=0.1, nesterov=True), "nesterov momentum needs momentum > 0"),
        (lambda: Adam(beta1=1.0), "beta1"),
        (lambda: Adam(beta1=-0.1), "beta1"),
        (lambda: Adam(beta2=1.0), "beta2"),
        (lambda: Adam(eps=0.0), "eps"),
        (lambda: AdamW(weight_decay=-0.01), "weight_decay"),
        (lambda: StepDecay(step_size=0), "step_size"),
        (lambda: StepDecay(gamma=0), "gamma"),
        (lambda: Exponential(gamma=0.0), "gamma"),
        (lambda: Exponential(gamma=1.01), "gamma"),
        (lambda: Cosine(total=0), "total"),
        (lambda: Cosine(total=5, warmup=-1), "warmup"),
        (lambda: Cosine(total=5, warmup=5), "warmup"),
        (lambda: Cosine(total=5, min_lr=-0.1), "min_lr"),
        (lambda: get_schedule("linear"), "unknown schedule"),
        (lambda: get_optimizer("rmsprop"), "unknown optimizer"),
    ],
)
def test_bad_optimizer_and_schedule_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_arguments_at_their_limits_are_accepted_and_kept():
    """The boundary values of every range are valid, and every argument is stored as given."""
    assert SGD(lr=0.5, momentum=0.0).config() == {
        "name": "sgd",
        "lr": 0.5,
        "momentum": 0.0,
        "nesterov": False,
    }
    assert SGD(lr=0.5, momentum=0.0).is_plain_sgd and not SGD(lr=0.5, momentum=0.5).is_plain_sgd
    assert SGD(lr=0.5, momentum=0.5, nesterov=True).config()["nesterov"] is True
    assert Adam(lr=0.2, beta1=0.0, beta2=0.0, eps=1e-3).config() == {
        "name": "adam",
        "lr": 0.2,
        "beta1": 0.0,
        "beta2": 0.0,
        "eps": 1e-3,
    }
    assert AdamW(lr=0.2, beta1=0.5, beta2=0.6, eps=1e-4, weight_decay=0.0).config() == {
        "name": "adamw",
        "lr": 0.2,
        "beta1": 0.5,
        "beta2": 0.6,
        "eps": 1e-4,
        "weight_decay": 0.0,
    }
    assert not Adam().is_plain_sgd and Adam().t == 0 and Adam().state == {}
    assert StepDecay(step_size=3, gamma=0.2).config() == {"name": "step", "step_size": 3.0, "gamma": 0.2}
    assert Exponential(gamma=1.0).config() == {"name": "exponential", "gamma": 1.0}
    assert Cosine(total=4, warmup=0, min_lr=0).config() == {
        "name": "cosine",
        "total": 4.0,
        "warmup": 0.0,
        "min_lr": 0.0,
    }
    assert repr(SGD(lr=0.5)) == "SGD(lr=0.5, momentum=0.0, nesterov=False)"
    assert repr(Adam(lr=0.5)) == "Adam(lr=0.5, beta1=0.9, beta2=0.999, eps=1e-08)"
    # names, dicts and instances all build the same thing; explicit arguments override the dict's
    opt = get_optimizer({"name": "nesterov", "lr": 0.3})
    assert (opt.momentum, opt.nesterov, opt.lr) == (0.9, True, 0.3)
    assert get_optimizer({"name": "sgd", "lr": 0.3}, lr=0.7).lr == 0.7
    assert get_optimizer("ADAM", lr=0.1).name == "adam"
    same = Adam()
    assert get_optimizer(same) is same


def test_schedule_defaults_and_configs_round_trip():
    step = get_schedule("step", epochs=9)
    assert (step.step_size, step.gamma) == (3.0, 0.1)
    assert get_schedule("step", epochs=2).step_size == 1.0  # never 0
    assert get_schedule("exponential").gamma == 0.9
    assert get_schedule("cosine", epochs=0).total == 1.0
    assert get_schedule("cosine", epochs=8, warmup=2).warmup == 2.0
    assert get_schedule(None).name == "constant"
    cos = Cosine(total=10, warmup=1, min_lr=0.01)
    again = get_schedule(cos.config())
    assert isinstance(again, Cosine) and again.config() == cos.config()
    assert get_schedule(cos) is cos


def test_schedules_on_arrays_with_a_floor():
    t = np.array([0.0, 0.5, 1.0, 5.5, 10.0, 12.0])
    cos = Cosine(total=10, warmup=1, min_lr=0.01)(t, 0.1)
    # warm-up from 0 to 0.1 over one epoch, then from 0.1 down to min_lr along a cosine; flat after the end
    expected = [0.0, 0.05, 0.1, 0.01 + 0.5 * 0.09 * (1 + math.cos(math.pi * 0.5)), 0.01, 0.01]
    np.testing.assert_allclose(cos, expected, atol=1e-12)
    no_warmup = Cosine(total=4)(np.array([0.0, 1.0, 2.0, 4.0]), 0.2)
    np.testing.assert_allclose(no_warmup, [0.2, 0.1 * (1 + math.cos(math.pi / 4)), 0.1, 0.0], atol=1e-12)
    np.testing.assert_allclose(Exponential(gamma=0.5)(np.array([0.0, 1.0, 3.0]), 0.8), [0.8, 0.4, 0.1])
    np.testing.assert_allclose(get_schedule("constant")(np.zeros(3), 0.3), [0.3, 0.3, 0.3])
    assert StepDecay(step_size=2.5, gamma=0.1)(2.4, 1.0) == 1.0 and StepDecay(2.5, 0.1)(2.5, 1.0) == 0.1


def test_optimizer_state_is_per_parameter_in_its_dtype_and_copied():
    opt = SGD(lr=0.1, momentum=0.5)
    params = {"W1": np.ones(2, dtype=np.float32), "b1": np.ones(1, dtype=np.float32)}
    opt.step(params, {"W1": np.array([1.0, 2.0], dtype=np.float32), "b1": np.array([3.0], dtype=np.float32)})
    assert sorted(opt.state) == ["v.W1", "v.b1"] and opt.state["v.W1"].dtype == np.float32
    np.testing.assert_array_equal(opt.state["v.b1"], [3.0])
    saved = opt.state_dict()
    assert saved["t"] == 1
    opt.state["v.W1"][0] = 99.0  # the saved state is a copy ...
    assert saved["arrays"]["v.W1"][0] == 1.0
    other = SGD(lr=0.1, momentum=0.5)
    other.load_state_dict(saved)
    saved["arrays"]["v.W1"][0] = -5.0  # ... and so is the loaded one
    assert other.t == 1 and other.state["v.W1"][0] == 1.0


def test_adamw_with_zero_decay_is_adam():
    a, b = AdamW(lr=0.1, weight_decay=0.0), Adam(lr=0.1)
    assert run(a, 3) == run(b, 3)


def test_defaults_and_the_list_of_choices():
    assert Exponential().gamma == 0.95 and StepDecay().config() == {
        "name": "step",
        "step_size": 10.0,
        "gamma": 0.1,
    }
    assert get_schedule("step", epochs=10).step_size == 3  # whole epochs: 10 // 3
    with pytest.raises(
        ValueError, match="unknown optimizer 'rmsprop'; choose one of adam, adamw, momentum, nesterov, sgd"
    ):
        get_optimizer("rmsprop")
