"""Numerical gradient checks (float64, central differences) for every activation, loss and layer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnscratch.activations import ACTIVATIONS, get_activation
from nnscratch.gradcheck import gradcheck
from nnscratch.gradcheck import numerical_gradient as numeric_grad
from nnscratch.gradcheck import relative_error as rel_error
from nnscratch.inputs import targets_like
from nnscratch.losses import LOSSES, get_loss, softmax
from nnscratch.network import Network
from nnscratch.training.engines import BatchEngine

# The project's one gradient-check rule (float64 central differences, error relative to the gradient's
# scale): see nnscratch.gradcheck. Tolerance 1e-6; correct gradients agree to ~1e-9.
TOL = 1e-6


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivative(name, rng):
    act = get_activation(name)
    z = rng.normal(size=(4, 7)) * 3
    z[np.abs(z) < 1e-3] = 0.5  # keep away from ReLU's kink
    da = rng.normal(size=z.shape)
    analytic = act.backward(z, act.forward(z), da)
    numeric = numeric_grad(lambda: float((act.forward(z) * da).sum()), z)
    assert rel_error(analytic, numeric) < TOL


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("batch", [False, True])
def test_loss_delta(name, batch, rng):
    loss = get_loss(name)
    shape = (5, 10) if batch else (10,)
    z = rng.normal(size=shape) * 2
    y = np.eye(10)[rng.integers(0, 10, size=shape[:-1])]
    numeric = numeric_grad(lambda: loss.value(z, y), z)
    assert rel_error(loss.delta(z, y), numeric) < TOL


def test_cross_entropy_delta_is_p_minus_y(rng):
    z = rng.normal(size=10)
    y = np.eye(10)[3]
    np.testing.assert_allclose(get_loss("cross_entropy").delta(z, y), softmax(z) - y)


def _network(depth, activation, loss, bias, rng):
    sizes = [6] + [5, 4, 7][: depth - 1] + [3]
    net = Network(
        sizes, activation=activation, loss=loss, bias=bias, init="xavier", seed=rng, dtype=np.float64
    )
    for p in net.params.values():  # non-zero biases so their gradients are exercised
        p += rng.normal(scale=0.3, size=p.shape)
    return net


CASES = list(itertools.product(sorted(ACTIVATIONS), sorted(LOSSES), [True, False], [1, 2, 3, 4]))


@pytest.mark.parametrize(("activation", "loss", "bias", "depth"), CASES)
@pytest.mark.parametrize("batch", [False, True])
def test_backward_pass_matches_numeric_gradient(activation, loss, bias, depth, batch, rng):
    net = _network(depth, activation, loss, bias, rng)
    n = 4 if batch else None
    x = rng.random((n, 6) if batch else 6)
    y = rng.integers(0, 3, size=n) if batch else np.eye(3)[1]
    grads = net.backward_pass(y, net.forward_pass(x))
    assert list(grads) == list(net.params)
    assert all(grads[key].shape == p.shape for key, p in net.params.items())
    result = gradcheck(net, x, y, threshold=TOL)  # central differences of forward_pass's loss
    assert list(result) == list(net.params)
    assert result.passed, result.table()
    net.forward_pass(x)
    z = net.cache[f"z{net.n_layers}"]  # ... which is the loss loss_value reports
    assert net.loss.value(z, targets_like(y, z)) == pytest.approx(net.loss_value(x, y), rel=1e-12)


@pytest.mark.parametrize(("activation", "loss", "bias", "depth"), CASES[::3])
def test_batch_engine_gradients_match_reference(activation, loss, bias, depth, rng):
    net = _network(depth, activation, loss, bias, rng)
    x = rng.random((5, 6))
    y = rng.integers(0, 3, size=5)
    engine = BatchEngine(net, batch_size=8)
    engine.inputs(5)[...] = x
    total = engine.forward_backward(5, y)
    reference = net.backward_pass(y, net.forward_pass(x))
    assert total / 5 == pytest.approx(net.loss_value(x, y), rel=1e-12)
    for key in net.params:
        np.testing.assert_allclose(engine.grads[key], reference[key], rtol=1e-10, atol=1e-13)


def test_l2_gradient_matches_numeric(rng):
    net = _network(2, "tanh", "cross_entropy", True, rng)
    x, y = rng.random((5, 6)), rng.integers(0, 3, size=5)
    l2 = 0.3
    engine = BatchEngine(net, batch_size=5, l2=l2)
    engine.inputs(5)[...] = x
    engine.forward_backward(5, y)

    def objective():
        weights = sum(float((net.params[f"W{l}"] ** 2).sum()) for l in range(1, net.n_layers + 1))
        return net.loss_value(x, y) + 0.5 * l2 * weights

    for key, p in net.params.items():
        assert rel_error(engine.grads[key], numeric_grad(objective, p)) < TOL, key


def test_dropout_gradient_matches_numeric_with_fixed_mask(rng):
    net = _network(3, "relu", "cross_entropy", True, rng)
    x, y = rng.random((5, 6)), rng.integers(0, 3, size=5)
    engine = BatchEngine(net, batch_size=5, dropout=0.4)
    engine.inputs(5)[...] = x
    seed = 99
    engine.forward_backward(5, y, np.random.default_rng(seed))
    grads = {k: v.copy() for k, v in engine.grads.items()}

    def objective():  # the same masks each time: same generator state
        return engine.forward_backward(5, y, np.random.default_rng(seed)) / 5

    dropped = [engine.masks[l][:5] for l in (1, 2)]
    assert all((m == 0).any() and (m > 0).any() for m in dropped)  # dropout really dropped units
    for key, p in net.params.items():
        assert rel_error(grads[key], numeric_grad(objective, p)) < TOL, key


def _reference_loss_with_masks(net, x, y, keep, rate):
    """The readable batch forward pass (``Z = A @ Wᵀ + b``) with given dropout masks, written out here
    independently of the engine: each hidden layer's activations are ``f(Z) · keep / (1 - rate)``."""
    a = x
    for l in range(1, net.n_layers + 1):
        W, b = net.layer(l)
        z = a @ W.T + (0.0 if b is None else b)
        if l < net.n_layers:
            a = net.activation.forward(z) * keep[l] / (1.0 - rate)
    return net.loss.value(z, np.eye(net.sizes[-1])[y])


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_dropout_gradient_matches_the_readable_network_with_the_same_masks(activation, rng):
    """With non-zero biases and activations whose derivative reads ``a`` (sigmoid, tanh), the engine's
    dropout loss and gradients equal those of an independently written masked forward pass."""
    net = _network(3, activation, "cross_entropy", True, rng)
    assert all(np.abs(net.params[f"b{l}"]).max() > 0.1 for l in (1, 2, 3))
    x, y, rate = rng.random((6, 6)), rng.integers(0, 3, size=6), 0.4
    engine = BatchEngine(net, batch_size=6, dropout=rate)
    engine.inputs(6)[...] = x
    total = engine.forward_backward(6, y, np.random.default_rng(7))
    keep = {l: engine.masks[l][:6] > 0 for l in (1, 2)}
    assert all(k.any() and not k.all() for k in keep.values())  # some units dropped, some kept
    for l in (1, 2):  # kept units are scaled by 1 / (1 - rate), dropped ones are 0
        np.testing.assert_allclose(engine.masks[l][:6], keep[l] / (1.0 - rate), rtol=1e-15)
    grads = {k: v.copy() for k, v in engine.grads.items()}

    def objective():
        return _reference_loss_with_masks(net, x, y, keep, rate)

    assert total / 6 == pytest.approx(objective(), rel=1e-12)
    for key, p in net.params.items():
        assert rel_error(grads[key], numeric_grad(objective, p)) < 1e-6, key


def test_inverted_dropout_keeps_the_mean_activation(rng):
    """Statistically, with a fixed generator: a fraction ``rate`` of units is zeroed, the kept ones are
    multiplied by exactly 1 / (1 - rate), and the mean activation is preserved."""
    net = Network([30, 400, 3], activation="sigmoid", seed=0, dtype=np.float64)
    m, rate = 1000, 0.25
    engine = BatchEngine(net, batch_size=m, dropout=rate)
    engine.inputs(m)[...] = rng.random((m, 30))
    engine.forward_backward(m, rng.integers(0, 3, m), np.random.default_rng(2024))
    h, a = engine.H[1][:m], engine.A[1][:m, :400]
    dropped = a == 0
    # 400,000 Bernoulli(0.25) draws: σ of the dropped fraction = √(0.25·0.75/4e5) ≈ 7e-4; allow ~4σ
    assert dropped.mean() == pytest.approx(rate, abs=3e-3)
    np.testing.assert_allclose(a[~dropped], h[~dropped] / (1 - rate), rtol=1e-12)
    # mean of h·keep/(1 - rate) over 4e5 units: relative σ ≈ √(rate/(1 - rate)/4e5) ≈ 1e-3; allow 5σ
    assert a.mean() / h.mean() == pytest.approx(1.0, abs=5e-3)


def test_sigmoid_is_stable_at_extremes():
    act = get_activation("sigmoid")
    z = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = act.forward(z)
    np.testing.assert_allclose(a, [0, 0, 0.5, 1, 1], atol=1e-30)


def test_softmax_and_losses_are_stable_for_huge_logits():
    z = np.array([[1000.0, -1000.0, 0.0], [-1e4, -1e4, -1e4]])
    y = np.eye(3)[[1, 2]]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        p = softmax(z)
        ce = get_loss("cross_entropy").value(z, y)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert ce == pytest.approx((2000.0 + np.log(3)) / 2)


def test_sigmoid_without_scipy_is_the_same_function(monkeypatch):
    from nnscratch import activations

    if activations._expit() is None:
        pytest.skip("SciPy is not installed: only one sigmoid to compare")
    assert activations.Sigmoid().vector_forward(128) is activations._expit()
    z = np.linspace(-30, 30, 201)  # short, so that expit (when installed) is the one used
    with_scipy = activations.Sigmoid().forward(z)
    monkeypatch.setattr(activations, "_expit", lambda: None)
    without = activations.Sigmoid().forward(z)
    # 0.5·(1 + tanh(z/2)) is exact to ~1e-16 absolutely (not relatively, for σ near 0)
    np.testing.assert_allclose(without, 1 / (1 + np.exp(-z)), rtol=0, atol=1e-15)
    np.testing.assert_allclose(with_scipy, without, rtol=0, atol=1e-15)


def test_loss_and_activation_names_aliases_and_reprs():
    from nnscratch.activations import LeakyReLU, Sigmoid

    assert get_loss("CE").name == get_loss("Cross-Entropy").name == "cross_entropy"
    assert get_loss("mse").name == get_loss("SSE").name == get_loss("sum-of-squares").name == "sum_of_squares"
    assert get_activation("Leaky-ReLU").name == "leaky_relu" and get_activation("TANH").name == "tanh"
    same = LeakyReLU(0.2)
    assert get_activation(same) is same and get_loss(get_loss("ce")).name == "cross_entropy"
    assert repr(get_loss("mse")) == "SumOfSquares()" and repr(Sigmoid()) == "Sigmoid()"
    assert repr(LeakyReLU(0.2)) == "LeakyReLU(alpha=0.2)" and LeakyReLU().alpha == 0.01
    with pytest.raises(ValueError, match="unknown loss 'hinge'; choose one of cross_entropy, sum_of_squares"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="unknown activation 'swish'; choose one of leaky_relu, relu,"):
        get_activation("swish")
    for alpha in (1.0, -0.1):
        with pytest.raises(ValueError, match="alpha"):
            LeakyReLU(alpha)
    assert LeakyReLU(0.0).alpha == 0.0


def test_activations_by_hand():
    from nnscratch.activations import LeakyReLU

    z = np.array([-2.0, 0.0, 3.0])
    da = np.array([1.0, 2.0, -1.0])
    leaky = LeakyReLU(0.1)
    np.testing.assert_allclose(leaky.forward(z), [-0.2, 0.0, 3.0])
    np.testing.assert_allclose(leaky.backward(z, leaky.forward(z), da), [0.1, 0.2, -1.0])  # slope alpha at 0
    relu = get_activation("relu")
    np.testing.assert_array_equal(relu.forward(z), [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(relu.backward(z, relu.forward(z), da), [0.0, 0.0, -1.0])  # 0 at the kink
    sig, tanh = get_activation("sigmoid"), get_activation("tanh")
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(sig.forward(z), s, rtol=1e-15)
    np.testing.assert_allclose(sig.backward(z, s, da), da * s * (1 - s), rtol=1e-15)
    np.testing.assert_allclose(tanh.backward(z, np.tanh(z), da), da * (1 - np.tanh(z) ** 2), rtol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("n", [5, 1000])  # short vectors may take SciPy's expit, long ones NumPy's passes
def test_activations_write_into_out_and_return_it(name, n, rng):
    act = get_activation(name)
    z = rng.normal(size=n).astype(np.float32)
    out, dz = np.empty_like(z), np.empty_like(z)
    assert act.forward(z, out=out) is out
    np.testing.assert_allclose(out, act.forward(z), rtol=1e-6)
    a = act.forward(z)
    assert a.dtype == act.backward(z, a, np.ones_like(z)).dtype == np.float32  # float32 stays float32
    assert act.backward(z, a, np.ones_like(z), out=dz) is dz
    np.testing.assert_allclose(dz, act.backward(z, a, np.ones_like(z)), rtol=1e-6)
    fast = act.vector_forward(n)
    np.testing.assert_allclose(fast(z, out=np.empty_like(z)), a, rtol=1e-6, atol=1e-7)


def test_sigmoid_uses_expit_only_for_short_vectors():
    from nnscratch import activations

    sig = activations.Sigmoid()
    if activations._expit() is None:
        pytest.skip("SciPy is not installed")
    assert sig.vector_forward(sig.expit_below - 1) is activations._expit()
    assert sig.vector_forward(sig.expit_below) == sig.forward


def test_softmax_writes_into_out_and_losses_use_the_given_probabilities(rng):
    z = rng.normal(size=(3, 4))
    out = np.empty_like(z)
    assert softmax(z, out=out) is out
    np.testing.assert_allclose(out, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))
    y = np.eye(4)[[0, 1, 2]]
    p = np.full((3, 4), 0.25)  # not softmax(z): delta must use the p it is given (the forward pass's)
    np.testing.assert_allclose(get_loss("cross_entropy").delta(z, y, p=p), (p - y) / 3)
    g = p - y
    expected = p * (g - (p * g).sum(axis=1, keepdims=True)) / 3
    np.testing.assert_allclose(get_loss("sum_of_squares").delta(z, y, p=p), expected)
    one = get_loss("sum_of_squares").value(z[0], y[0])  # one sample: not divided by a batch size
    assert one == pytest.approx(0.5 * ((softmax(z[0]) - y[0]) ** 2).sum())
