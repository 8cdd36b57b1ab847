"""The same maths as :mod:`nnscratch.network`, arranged for speed.

Two engines run one training epoch's inner loop:

* :class:`BatchEngine` — mini-batches (any size, any optimizer, dropout, L2). Every array it needs is
  allocated once; each batch is a handful of BLAS matrix products writing into those buffers.
* :func:`sgd_per_sample_epoch` — the tutorial's pure SGD, one image at a time, with plain SGD. Per
  sample it makes no weight-sized temporaries: the big first layer is updated exactly but a block of
  samples at a time through their Gram matrix (see the function), the other layers by one fused BLAS
  rank-1 update (``?ger``) in place, and the bias rides along as an extra weight column.

Both rely on :class:`~nnscratch.network.Network` keeping each layer's weights and bias in one matrix
``Wb`` (n_out, n_in + 1); with a trailing 1 appended to the layer input ``a``, ``Wb · [a; 1] = W·a + b``
and ``delta ⊗ [a; 1]`` is ``[dW | db]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np

from nnscratch.inputs import PIXEL_SCALE
from nnscratch.losses import CrossEntropy, softmax
from nnscratch.network import Network


def fill_inputs(x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
    """Copy rows ``x[idx]`` into ``out`` as floats in [0, 1] (uint8 pixels divided by 255).

    ``out`` is (len(idx), n_in), possibly a view into a wider buffer."""
    rows = x[idx].reshape(len(idx), -1)
    if rows.dtype == np.uint8:
        np.divide(rows, out.dtype.type(PIXEL_SCALE), out=out)
    else:
        out[...] = rows


def _blas(name: str, dtype: np.dtype) -> Callable | None:
    """SciPy's BLAS routine ``s<name>``/``d<name>`` when SciPy is installed (the ``fast`` extra)."""
    try:
        from scipy.linalg import blas
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return getattr(blas, ("s" if dtype == np.float32 else "d") + name)


def limit_blas_threads(threads: int = 1) -> contextlib.AbstractContextManager:
    """Limit every loaded BLAS (NumPy's and SciPy's OpenBLAS) to ``threads`` threads inside a ``with``
    block (needs threadpoolctl, in the ``fast`` extra; without it, a no-op).

    The per-sample kernel runs with one thread: its matrix-vector products are far too small to share,
    and measured here, letting OpenBLAS use 2 threads for them made an epoch 7x slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - depends on the environment
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def numpy_ger(alpha: float, x: np.ndarray, y: np.ndarray, a: np.ndarray, overwrite_a: int = 1) -> np.ndarray:
    """BLAS ``?ger`` in NumPy, for when SciPy is missing: ``a += alpha · x ⊗ y`` in place."""
    a += alpha * np.multiply.outer(x, y)
    return a


def rank1(use_blas: bool, dtype: np.dtype) -> Callable:
    """``ger(alpha, x, y, a=A, overwrite_a=1)``: ``A += alpha · x ⊗ y`` in place, for a Fortran-ordered
    ``A`` such as ``Wb.T``, so that ``ger(-lr, a, delta, a=Wb.T)`` is ``Wb -= lr · delta ⊗ a``. SciPy's
    BLAS ``?ger`` (one fused pass, no temporary) when available, else :func:`numpy_ger`."""
    return (_blas("ger", dtype) if use_blas else None) or numpy_ger


def sgd_per_sample_epoch(
    net: Network,
    x: np.ndarray,
    labels: np.ndarray,
    order: np.ndarray,
    lrs: np.ndarray,
    *,
    augment: Callable | None = None,
    on_progress: Callable[[int], None] | None = None,
    chunk: int = 1024,
    block: int = 64,
    use_blas: bool = True,
) -> float:
    """One epoch of the tutorial's SGD: for each sample ``t`` in ``order``, forward, backward, and
    ``θ ← θ - lrs[t]·∂L/∂θ`` before the next sample. Returns the summed loss over the epoch.

    Inputs are scaled in chunks of ``chunk`` rows into one reused buffer (the images can stay uint8).

    The first layer (784 → 128, almost all the weights) is handled a block of ``block`` samples at a
    time, with exactly the same result as updating it after every sample. Within a block starting
    from weights ``W1``, sample ``t`` must see ``W1 - Σ_{s<t} lr_s·delta_s ⊗ x_s``, so

        z1_t = W1·x_t - Σ_{s<t} lr_s·(x_s·x_t)·delta_s = Z[t] - Σ_{s<t} lr_s·G[s, t]·delta_s

    with ``Z = X @ W1ᵀ`` and the Gram matrix ``G = X @ Xᵀ`` computed for the whole block by two
    matrix products. As soon as sample s has its ``delta_s``, its term is subtracted from the rows of
    the samples still to come (one small rank-1 update of ``Z``). At the end of the block,
    ``W1 -= (lr·Delta)ᵀ @ X`` applies all its updates in one product. (The first layer needs no
    ``W1ᵀ·delta``, so nothing else reads ``W1`` inside the block.) The other layers are small and are
    updated after every sample with a fused rank-1 BLAS update.
    """
    L, act, bias = net.n_layers, net.activation, int(net.bias)
    dtype, widths, Wb = net.dtype, net.sizes, net.Wb
    ce = isinstance(net.loss, CrossEntropy)
    eye = np.eye(widths[-1], dtype=dtype)
    ger = rank1(use_blas, dtype)
    WbT = [W.T for W in Wb]  # Fortran-ordered views: BLAS updates them, and so Wb, in place
    # a[l] is the (augmented) input of layer l+1: n_l values then a 1 for the bias; a[0] is a row of x0.
    a = [None] + [np.ones(n + bias, dtype=dtype) for n in widths[1:-1]]
    h = [None] + [a[l][: widths[l]] for l in range(1, L)]  # h[l]: the activations inside a[l]
    z = [None] + [np.empty(n, dtype=dtype) for n in widths[1:]]  # z[l], l = 1..L
    delta = [None] + [np.empty(n, dtype=dtype) for n in widths[1:]]
    back = [None, None] + [np.empty(n + bias, dtype=dtype) for n in widths[1:-1]]  # W_lᵀ·delta_l
    da = [None, None] + [back[l][: widths[l - 1]] for l in range(2, L + 1)]
    x0 = np.ones((chunk, widths[0] + bias), dtype=dtype)
    Z1 = np.empty((block, widths[1]), dtype=dtype)  # W1·x for the block's samples
    G = np.empty((block, block), dtype=dtype)  # x_s·x_t within the block
    D1 = np.empty((block, widths[1]), dtype=dtype)  # delta1_s of the block's samples
    Z1_rows, D1_rows = list(Z1), list(D1)  # row views, made once
    # a sample's update reaches the rows of the samples after it: Z1[r+1:]ᵀ -= lr·G[r, r+1:] ⊗ delta1
    G_after, Z1T_after = [G[r, r + 1 :] for r in range(block)], [Z1[r + 1 :].T for r in range(block)]
    layers_up, layers_down = tuple(range(1, L)), tuple(range(L, 1, -1))
    # bound ``.dot`` methods: np.dot's dispatch costs a third of a small product
    W_dot = [W.dot for W in Wb]
    delta_dot = [None, None] + [delta[l].dot for l in range(2, L + 1)]
    dW1 = np.empty_like(Wb[0])
    forward = [None] + [act.vector_forward(n) for n in widths[1:-1]]  # per hidden layer
    backward = act.backward
    total, step = 0.0, 0
    with limit_blas_threads(1):
        for start in range(0, len(order), chunk):
            idx = order[start : start + chunk]
            k = len(idx)
            fill_inputs(x, idx, x0[:k, : widths[0]])
            if augment is not None:
                x0[:k, : widths[0]] = augment(x0[:k, : widths[0]])
            ys = labels[idx].tolist()
            rates = lrs[step : step + k].tolist()
            step += k
            losses: list[float] = []  # p_y (cross-entropy) or the loss, per sample
            for b0 in range(0, k, block):
                m = min(block, k - b0)
                X = x0[b0 : b0 + m]
                block_rates = np.asarray(rates[b0 : b0 + m], dtype=dtype)
                np.matmul(X, Wb[0].T, out=Z1[:m])
                np.matmul(X, X.T, out=G[:m, :m])
                if m == block:
                    g_after, z_after = G_after, Z1T_after
                else:  # the short last block of a chunk: tails that stop at its end
                    g_after, z_after = (
                        [G[r, r + 1 : m] for r in range(m)],
                        [Z1[r + 1 : m].T for r in range(m)],
                    )
                for r, y, lr in zip(range(m), ys[b0 : b0 + m], rates[b0 : b0 + m], strict=True):
                    z[1], delta[1] = Z1_rows[r], D1_rows[r]  # z1 already holds the block's earlier updates
                    for l in layers_up:  # forward: a_l = f(z_l),  z_{l+1} = Wb_{l+1}·[a_l; 1]
                        forward[l](z[l], out=h[l])
                        W_dot[l](a[l], out=z[l + 1])
                    zL, d = z[L], delta[L]
                    if ce:  # delta_L = softmax(z_L) - y, fused
                        np.subtract(zL, np.maximum.reduce(zL), out=d)
                        np.exp(d, out=d)
                        d /= np.add.reduce(d)
                        p_y = d.item(y)
                        losses.append(p_y)
                        d[y] = p_y - 1.0
                    else:
                        losses.append(net.loss.value(zL, eye[y]))
                        d[...] = net.loss.delta(zL, eye[y], softmax(zL))
                    for l in layers_down:  # backward, then update layer l with the gradient just found
                        delta_dot[l](Wb[l - 1], out=back[l])  # W_lᵀ·delta_l, before W_l's update
                        backward(z[l - 1], h[l - 1], da[l], out=delta[l - 1])
                        ger(-lr, a[l - 1], delta[l], a=WbT[l - 1], overwrite_a=1)  # W_l -= lr·delta ⊗ a
                    if r + 1 < m:  # this sample's first-layer update, as the later samples will see it
                        ger(-lr, delta[1], g_after[r], a=z_after[r], overwrite_a=1)
                D1[:m] *= block_rates[:, None]
                np.matmul(D1[:m].T, X, out=dW1)  # the block's first-layer updates, all at once
                Wb[0] -= dW1
            if ce:
                losses = -np.log(np.maximum(losses, np.finfo(dtype).tiny))
            total += float(np.sum(losses))
            if on_progress is not None:
                on_progress(k)
    return total


class BatchEngine:
    """Forward and backward over mini-batches in preallocated buffers (the batch equations of
    :mod:`nnscratch.network`), with optional inverted dropout and L2 weight decay.

    After :meth:`forward_backward`, ``self.grads`` holds the mean gradients by parameter name, as
    views into one buffer per layer. For plain SGD, ``forward_backward(..., sgd_lr=lr)`` also takes
    the step ``Wb -= lr · Δᵀ @ [A | 1]`` layer by layer as soon as that layer's gradient is known,
    on whole contiguous ``Wb`` matrices, without an optimizer call.

    Only NumPy's own BLAS is used here. (SciPy's ``?gemm`` with beta = 1 would fuse the update into the
    product, but SciPy ships a second OpenBLAS; with two multi-threaded OpenBLAS pools on two cores an
    epoch took 8.7 s instead of 0.15 s.)
    """

    def __init__(self, net: Network, batch_size: int, dropout: float = 0.0, l2: float = 0.0) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        self.net, self.dropout, self.l2 = net, float(dropout), float(l2)
        n, bias, dtype, widths = batch_size, int(net.bias), net.dtype, net.sizes
        L = net.n_layers
        # A[l]: input of layer l+1, a 1 appended per row for the bias. H[l]: activations before dropout.
        self.A = [np.ones((n, w + bias), dtype=dtype) for w in widths[:-1]]
        self.H = [None] + [
            np.empty((n, widths[l]), dtype=dtype) if dropout else self.A[l][:, : widths[l]]
            for l in range(1, L)
        ]
        self.masks = [None] + [np.empty((n, widths[l]), dtype=dtype) for l in range(1, L)] if dropout else []
        self.Z = [None] + [np.empty((n, w), dtype=dtype) for w in widths[1:]]
        self.delta = [None] + [np.empty((n, w), dtype=dtype) for w in widths[1:]]  # ∂L/∂Z_l
        self.back = [None, None] + [np.empty((n, w + bias), dtype=dtype) for w in widths[1:-1]]
        self.dWb = [np.zeros_like(Wb) for Wb in net.Wb]
        self.grads: dict[str, np.ndarray] = {}
        for l, dWb in enumerate(self.dWb, start=1):
            self.grads[f"W{l}"] = dWb[:, : widths[l - 1]]
            if bias:
                self.grads[f"b{l}"] = dWb[:, widths[l - 1]]

    def inputs(self, m: int) -> np.ndarray:
        """The (m, n_in) block where the next batch's inputs go."""
        return self.A[0][:m, : self.net.sizes[0]]

    def forward_backward(
        self, m: int, y: np.ndarray, rng: np.random.Generator | None = None, sgd_lr: float | None = None
    ) -> float:
        """Forward and backward for the ``m`` inputs already in :meth:`inputs` with integer labels
        ``y`` (m,). Fills ``self.grads`` (or, given ``sgd_lr``, takes the plain SGD step itself) and
        returns the summed (not mean) data loss of the batch."""
        if sgd_lr is not None and self.l2:
            raise ValueError("the fused SGD step has no L2 term; call without sgd_lr and use self.grads")
        net, L, act = self.net, self.net.n_layers, self.net.activation
        widths = net.sizes
        for l in range(1, L + 1):  # Z_l = [A_{l-1} | 1] @ Wb_lᵀ  (= A @ Wᵀ + b)
            np.matmul(self.A[l - 1][:m], net.Wb[l - 1].T, out=self.Z[l][:m])
            if l < L:
                act.forward(self.Z[l][:m], out=self.H[l][:m])
                if self.dropout:  # inverted dropout: keep with prob 1-r, scale by 1/(1-r)
                    mask = self.masks[l][:m]
                    rng.random(dtype=mask.dtype, out=mask)
                    np.greater_equal(mask, self.dropout, out=mask)
                    mask *= 1.0 / (1.0 - self.dropout)
                    np.multiply(self.H[l][:m], mask, out=self.A[l][:m, : widths[l]])
        zL = self.Z[L][:m]
        rows = np.arange(m)
        if isinstance(net.loss, CrossEntropy):
            delta = softmax(zL, out=self.delta[L][:m])
            loss = float(-np.log(np.maximum(delta[rows, y], np.finfo(net.dtype).tiny)).sum())
            delta[rows, y] -= 1.0
            delta *= 1.0 / m
        else:
            t = np.eye(widths[-1], dtype=net.dtype)[y]
            loss = net.loss.value(zL, t) * m
            delta = net.loss.delta(zL, t)
        for l in range(L, 0, -1):
            if l > 1:
                back = self.back[l][:m]
                np.matmul(delta, net.Wb[l - 1], out=back)  # ∂L/∂A_{l-1} (and a bias column, unused)
            a_prev = self.A[l - 1][:m]
            dWb = np.matmul(delta.T, a_prev, out=self.dWb[l - 1])  # [dW | db] = Δᵀ @ [A | 1]
            if sgd_lr is not None:  # plain SGD, right away: Wb ← Wb - lr·[dW | db]
                dWb *= sgd_lr
                net.Wb[l - 1] -= dWb
            if l > 1:
                da = back[:, : widths[l - 1]]
                if self.dropout:
                    da *= self.masks[l - 1][:m]
                delta = act.backward(self.Z[l - 1][:m], self.H[l - 1][:m], da, out=self.delta[l - 1][:m])
        if self.l2:
            for l in range(1, L + 1):
                self.grads[f"W{l}"] += self.l2 * net.params[f"W{l}"]
        return loss
