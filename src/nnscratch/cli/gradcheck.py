"""``nnscratch gradcheck``: check ``backward_pass`` against central differences, for any architecture.

The tool to run after editing the maths of :mod:`nnscratch.network`: it builds a float64 network of the
requested shape, feeds it random inputs and labels (no data needed), and prints each parameter's
maximum relative error (:func:`nnscratch.gradcheck.gradcheck`). The exit code is 0 when every error is at
most ``--threshold`` and 1 otherwise, with a one-line error naming the worst parameter.
"""

from __future__ import annotations

import argparse

import numpy as np

from nnscratch.activations import ACTIVATIONS
from nnscratch.cli import common
from nnscratch.errors import NNScratchError
from nnscratch.gradcheck import DEFAULT_EPS, DEFAULT_THRESHOLD, gradcheck
from nnscratch.losses import LOSSES
from nnscratch.network import INITS, Network

DEFAULT_SIZES = "784,32,16,10"
DESCRIPTION = (
    "Build a float64 network, compute its gradients with backward_pass on random inputs and labels, and "
    "compare each parameter with central differences of the loss. Prints every parameter's maximum "
    "relative error, max|analytic - numeric| / max(max|analytic|, max|numeric|); exits 1 if any is above "
    "the threshold."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``gradcheck`` verb."""
    p = common.add_verb(
        subparsers,
        "gradcheck",
        "check backpropagation numerically (float64 central differences)",
        DESCRIPTION,
    )
    p.add_argument(
        "--sizes", type=common.layer_sizes, default=DEFAULT_SIZES, help="layer widths, input first"
    )
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), default="sigmoid", help="hidden activation")
    p.add_argument("--loss", choices=sorted(LOSSES), default="cross_entropy", help="loss on the softmax")
    p.add_argument("--init", choices=INITS, default="tutorial", help="weight initialisation")
    p.add_argument(
        "--no-bias", dest="bias", action="store_false", help="no bias terms, like the tutorial's net"
    )
    p.add_argument(
        "--batch", type=common.positive_int, default=4, help="samples per check; 1 checks the one-sample path"
    )
    p.add_argument(
        "--seed", type=common.nonnegative_int, default=0, help="seed of the weights, inputs, labels"
    )
    p.add_argument("--eps", type=common.positive_float, default=DEFAULT_EPS, help="central-difference step")
    p.add_argument(
        "--threshold", type=common.positive_float, default=DEFAULT_THRESHOLD, help="largest error that passes"
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    sizes = args.sizes  # argparse runs the default through layer_sizes too
    if sizes[-1] < 2:
        raise common.UsageError(f"--sizes: the softmax output needs at least 2 classes, got {sizes[-1]}")
    batch, seed, eps, threshold = args.batch, args.seed, args.eps, args.threshold
    rng = np.random.default_rng(seed)
    net = Network(
        sizes,
        activation=args.activation,
        loss=args.loss,
        bias=args.bias,
        init=args.init,
        seed=rng,
        dtype=np.float64,
    )
    for b in (net.params[k] for k in net.params if k.startswith("b")):
        b += rng.normal(scale=0.1, size=b.shape)  # non-zero biases, so their effect is exercised too
    shape = (sizes[0],) if batch == 1 else (batch, sizes[0])
    x = rng.random(shape)
    y = rng.integers(0, sizes[-1], size=None if batch == 1 else batch)
    result = gradcheck(net, x, y, eps=eps, threshold=threshold)
    bias = "bias" if args.bias else "no bias"
    print(
        f"gradcheck {'-'.join(map(str, sizes))}, {args.activation}, {args.loss}, {bias}, "
        f"batch {batch}, eps {eps:g}, float64"
    )
    print(result.table())
    if not result.passed:
        name, err = result.worst
        raise NNScratchError(
            f"gradient check failed for {', '.join(result.failed)}: {name} has relative error {err:.2e} "
            f"> threshold {threshold:g}"
        )
    print(f"passed: every relative error <= {threshold:g} (worst {result.worst[0]}: {result.worst[1]:.2e})")
    return 0
