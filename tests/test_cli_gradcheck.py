"""``nnscratch gradcheck``: passes on the real maths, fails (naming the parameter) on broken maths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnscratch.activations import ACTIVATIONS
from nnscratch.cli import main
from nnscratch.gradcheck import GradcheckResult, gradcheck, relative_error
from nnscratch.losses import LOSSES
from nnscratch.network import Network

SMALL = ["--sizes", "12,6,5,4"]
COMBOS = list(itertools.product(sorted(ACTIVATIONS), sorted(LOSSES), [True, False]))


def _errors(out: str) -> dict[str, float]:
    rows = [line.split() for line in out.splitlines() if line[:1] in ("W", "b")]
    return {row[0]: float(row[2]) for row in rows}


@pytest.mark.parametrize(("activation", "loss", "bias"), COMBOS)
def test_passes_for_every_activation_loss_and_bias(activation, loss, bias, capsys):
    argv = ["gradcheck", *SMALL, "--activation", activation, "--loss", loss]
    argv += [] if bias else ["--no-bias"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    errors = _errors(out)
    names = ["W1", "b1", "W2", "b2", "W3", "b3"] if bias else ["W1", "W2", "W3"]
    assert list(errors) == names
    assert max(errors.values()) < 1e-6
    assert "passed" in out


@pytest.mark.parametrize("batch", ["1", "3"])
def test_default_architecture_passes_one_sample_and_batch(batch, capsys):
    assert main(["gradcheck", "--batch", batch]) == 0
    out = capsys.readouterr().out
    assert "784-32-16-10" in out and f"batch {batch}" in out
    assert max(_errors(out).values()) < 1e-6


def _broken_backward(real):
    """The real backward pass with layer 2's weight gradient 1 % off (every other gradient stays right)."""

    def backward_pass(self, y, output):
        grads = real(self, y, output)
        grads["W2"] = grads["W2"] * 1.01  # 1 % off: small enough to train, large enough to catch
        return grads

    return backward_pass


@pytest.mark.parametrize("batch", ["1", "4"])
def test_fails_and_names_the_parameter_of_a_broken_backward_pass(batch, monkeypatch, capsys):
    monkeypatch.setattr(Network, "backward_pass", _broken_backward(Network.backward_pass))
    assert main(["gradcheck", *SMALL, "--batch", batch]) == 1
    captured = capsys.readouterr()
    errors = _errors(captured.out)
    assert errors["W2"] > 1e-3
    assert all(v < 1e-6 for k, v in errors.items() if k != "W2")
    err = captured.err.strip()
    assert err.startswith("nnscratch: error: gradient check failed for W2") and "\n" not in err


def test_threshold_decides(monkeypatch, capsys):
    monkeypatch.setattr(Network, "backward_pass", _broken_backward(Network.backward_pass))
    assert main(["gradcheck", *SMALL, "--threshold", "0.5"]) == 0  # a 1 % error is below 0.5


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--sizes", "784,x,10"], "--sizes"),
        (["--sizes", "784"], "--sizes"),
        (["--sizes", "784,0,10"], "--sizes"),
        (["--sizes", "784,1"], "--sizes"),
        (["--batch", "0"], "--batch"),
        (["--batch", "two"], "--batch"),
        (["--threshold", "-1"], "--threshold"),
        (["--eps", "0"], "--eps"),
        (["--seed", "-1"], "--seed"),
        (["--activation", "softplus"], "--activation"),
    ],
)
def test_bad_values_are_one_line_usage_errors_naming_the_flag(argv, flag, capsys):
    with pytest.raises(SystemExit) as exited:
        code = main(["gradcheck", *argv])  # argparse exits; errors found after parsing return
        raise SystemExit(code)
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nnscratch: error: ") and flag in err and "\n" not in err


def test_choices_come_from_the_registries_and_help_shows_real_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["gradcheck", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in [*ACTIVATIONS, *LOSSES])
    assert "(default: 784,32,16,10)" in out and "(default: 1e-06)" in out
    assert "(default: True)" not in out and "(default: None)" not in out


def test_float32_network_is_checked_on_a_float64_copy(rng):
    net = Network([5, 4, 3], seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    result = gradcheck(net, rng.random((2, 5)), [0, 2])
    assert isinstance(result, GradcheckResult) and result.passed and list(result) == list(net.params)
    assert all(np.array_equal(before[k], net.params[k]) for k in net.params)  # untouched


def test_float64_network_is_restored_exactly(rng):
    net = Network([5, 4, 3], seed=0, dtype=np.float64)
    before = {k: v.copy() for k, v in net.params.items()}
    assert gradcheck(net, rng.random(5), 1).passed
    assert all(np.array_equal(before[k], net.params[k]) for k in net.params)


def test_relative_error_is_scale_relative_and_safe_for_zero():
    a = np.array([1.0, 1e-9])
    assert relative_error(a, a + np.array([0.0, 1e-11])) == pytest.approx(1e-11)  # tiny entry: no blow-up
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.zeros(3), np.full(3, 1e-12)) == pytest.approx(1e-4)  # below the floor
    assert relative_error(np.ones(2), -np.ones(2)) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="shapes"):
        relative_error(np.ones(2), np.ones(3))
