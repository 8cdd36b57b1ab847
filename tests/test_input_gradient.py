"""Network.input_gradient (the web page's "why" heatmap): ∂z_L[k]/∂x against float64 central differences."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch.activations import ACTIVATIONS
from nnscratch.network import Network

EPS = 1e-6


def central_differences(net: Network, x: np.ndarray, k: int) -> np.ndarray:
    grad = np.empty_like(x)
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = EPS
        grad[i] = (net.logits(x + step)[k] - net.logits(x - step)[k]) / (2 * EPS)
    return grad


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("sizes", [[12, 7, 5, 4], [9, 3], [6, 8, 8, 8, 3]])
def test_input_gradient_matches_central_differences(activation, bias, sizes, rng):
    net = Network(sizes, activation=activation, bias=bias, init="xavier", seed=3, dtype=np.float64)
    if bias:
        for l in range(1, net.n_layers + 1):
            net.params[f"b{l}"] = rng.normal(size=sizes[l]) * 0.5
    x = rng.uniform(0.05, 0.95, size=sizes[0])
    for k in range(sizes[-1]):
        analytic = net.input_gradient(x, k)
        numeric = central_differences(net, x, k)
        assert analytic.shape == x.shape
        scale = max(np.abs(numeric).max(), 1e-12)
        assert np.abs(analytic - numeric).max() / scale < 1e-6, (k, analytic, numeric)


def test_layer_values_match_forward_pass_and_leave_the_cache_alone(rng):
    net = Network([784, 128, 64, 10], seed=0)
    x = rng.uniform(0, 1, size=784).astype(np.float32)
    zs, activations = net.layer_values(x)
    p = net.forward_pass(x)
    cache = dict(net.cache)
    assert [z.shape for z in zs] == [(128,), (64,), (10,)]
    assert [a.shape for a in activations] == [(784,), (128,), (64,)]
    np.testing.assert_allclose(zs[-1], net.logits(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(activations[2], cache["a2"], rtol=1e-6)
    net.layer_values(x * 0.5)
    assert net.cache["p"] is cache["p"] and np.array_equal(net.cache["p"], p)


def test_input_gradient_checks_its_arguments():
    net = Network([6, 4, 3], seed=0)
    with pytest.raises(ValueError, match="0..2"):
        net.input_gradient(np.zeros(6, np.float32), 3)
    with pytest.raises(ValueError, match="6 features"):
        net.input_gradient(np.zeros(5, np.float32), 0)
