"""The same maths as :mod:`nnscratch.network`, arranged for speed.

Two engines run one training epoch, the trainer only chooses between them:

* :class:`BatchEngine` — mini-batches (any size, any optimizer, dropout, L2). Every array it needs is
  allocated once; each batch is a handful of BLAS matrix products writing into those buffers.
  :meth:`BatchEngine.epoch` is the mini-batch epoch loop, optimizer steps included.
* :class:`PerSampleEngine` (:func:`sgd_per_sample_epoch`) — the tutorial's pure SGD, one image at a
  time, with plain SGD. Per sample it makes no weight-sized temporaries: the big first layer is updated
  exactly but a block of samples at a time through their Gram matrix (see the class), the other layers
  by one fused BLAS rank-1 update (``?ger``) in place, and the bias rides along as an extra weight column.

Both rely on :class:`~nnscratch.network.Network` keeping each layer's weights and bias in one matrix
``Wb`` (n_out, n_in + 1); with a trailing 1 appended to the layer input ``a``, ``Wb · [a; 1] = W·a + b``
and ``delta ⊗ [a; 1]`` is ``[dW | db]``.

An ``augment`` callable, when given, is called as ``augment(batch, out)``: it reads the batch of
scaled inputs (m, n_in) and writes the augmented batch into ``out``, a reused float32 (m, n_in) buffer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np

from nnscratch._optional import optional
from nnscratch.inputs import one_hot, scale_pixels
from nnscratch.losses import CrossEntropy, log_loss, softmax
from nnscratch.network import Network
from nnscratch.training.optimizers import Optimizer

Augment = Callable[[np.ndarray, np.ndarray], object]
Progress = Callable[[int], None]


def fill_inputs(x: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
    """Copy rows ``x[idx]`` into ``out`` as floats in [0, 1] (:func:`nnscratch.inputs.scale_pixels`).

    ``out`` is (len(idx), n_in), possibly a view into a wider buffer."""
    scale_pixels(x[idx], out=out)


class InputLoader:
    """Puts the rows ``x[idx]`` of a data set, scaled (:func:`fill_inputs`) and, given ``augment``,
    augmented, into the first rows of ``buffer`` (rows, n_in): an engine's input buffer, possibly a
    view into a wider one. The augmentation's float32 output buffer is made on first use."""

    def __init__(self, buffer: np.ndarray) -> None:
        self.buffer = buffer
        self.augmented: np.ndarray | None = None

    def load(self, x: np.ndarray, idx: np.ndarray, augment: Augment | None = None) -> np.ndarray:
        """The (len(idx), n_in) block of the buffer, filled."""
        inputs = self.buffer[: len(idx)]
        fill_inputs(x, idx, inputs)
        if augment is not None:
            if self.augmented is None:
                self.augmented = np.empty(self.buffer.shape, dtype=np.float32)
            out = self.augmented[: len(idx)]
            augment(inputs, out)
            inputs[...] = out
        return inputs


def import_fast_kernels() -> None:
    """Import the optional libraries the per-sample engine uses (SciPy's BLAS and ``expit``,
    threadpoolctl) now, before training starts, instead of inside the first epoch: SciPy takes about a
    second to import, which would be counted in epoch 1's time and would be what a Ctrl-C right after
    the progress bar appears interrupts."""
    optional("scipy.linalg.blas")
    optional("scipy.special")
    optional("threadpoolctl")


def _blas(name: str, dtype: np.dtype) -> Callable | None:
    """SciPy's BLAS routine ``s<name>``/``d<name>`` when SciPy is installed (the ``fast`` extra)."""
    blas = optional("scipy.linalg.blas")
    return None if blas is None else getattr(blas, ("s" if dtype == np.float32 else "d") + name)


def limit_blas_threads(threads: int | None = 1) -> contextlib.AbstractContextManager:
    """Limit every loaded BLAS (NumPy's and SciPy's OpenBLAS) to ``threads`` threads inside a ``with``
    block, and restore the previous limits on leaving it (needs threadpoolctl, in the ``fast`` extra;
    without it, or with ``threads=None``, a no-op). The limit is process-wide while the block runs.

    The per-sample kernel runs with one thread: its matrix-vector products are far too small to share,
    and measured here, letting OpenBLAS use 2 threads for them made an epoch 7x slower."""
    threadpoolctl = None if threads is None else optional("threadpoolctl")
    if threadpoolctl is None:
        return contextlib.nullcontext()
    return threadpoolctl.threadpool_limits(limits=threads, user_api="blas")


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
    chunk: int = 1024,
    block: int = 64,
    use_blas: bool = True,
    **options: Any,
) -> float:
    """One epoch of the tutorial's SGD in a new :class:`PerSampleEngine`; returns the summed loss.
    ``options``: ``augment``, ``on_progress`` and ``blas_threads`` of :meth:`PerSampleEngine.epoch`."""
    engine = PerSampleEngine(net, chunk=chunk, block=block, use_blas=use_blas)
    return engine.epoch(x, labels, order, lrs, **options)


class PerSampleEngine:
    """The tutorial's SGD: for each sample ``t`` in ``order``, forward, backward, and
    ``θ ← θ - lrs[t]·∂L/∂θ`` before the next sample, in buffers made once.

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

    def __init__(self, net: Network, chunk: int = 1024, block: int = 64, use_blas: bool = True) -> None:
        self.net, self.chunk, self.block = net, int(chunk), int(block)
        L, bias, dtype, widths = net.n_layers, int(net.bias), net.dtype, net.sizes
        self.ger = rank1(use_blas, dtype)
        # Lists indexed by layer number as in the maths: a None where a layer has no such buffer.
        # a[l] is the (augmented) input of layer l+1: n_l values then a 1 for the bias; a[0] is a row of x0.
        self.a: list[Any] = [None] + [np.ones(n + bias, dtype=dtype) for n in widths[1:-1]]
        self.h: list[Any] = [None] + [self.a[l][: widths[l]] for l in range(1, L)]  # activations in a[l]
        self.z: list[Any] = [None] + [np.empty(n, dtype=dtype) for n in widths[1:]]  # z[l], l = 1..L
        self.delta: list[Any] = [None] + [np.empty(n, dtype=dtype) for n in widths[1:]]
        self.back: list[Any] = [None, None] + [np.empty(n + bias, dtype=dtype) for n in widths[1:-1]]  # Wᵀ·δ
        self.da: list[Any] = [None, None] + [self.back[l][: widths[l - 1]] for l in range(2, L + 1)]
        self.x0 = np.ones((chunk, widths[0] + bias), dtype=dtype)
        self.loader = InputLoader(self.x0[:, : widths[0]])
        self.Z1 = np.empty((block, widths[1]), dtype=dtype)  # W1·x for the block's samples
        self.G = np.empty((block, block), dtype=dtype)  # x_s·x_t within the block
        self.D1 = np.empty((block, widths[1]), dtype=dtype)  # delta1_s of the block's samples
        self.Z1_rows, self.D1_rows = list(self.Z1), list(self.D1)  # row views, made once
        self.dW1 = np.empty_like(net.Wb[0])
        self.tails = self._tails(block)
        # per layer, bound once for the hot loop: Fortran-ordered views that BLAS updates (so Wb, in
        # place), bound ``.dot`` methods (np.dot's dispatch costs a third of a small product), and the
        # activation specialised to each hidden width
        self.WbT = [W.T for W in net.Wb]
        self.W_dot = [W.dot for W in net.Wb]
        self.delta_dot: list[Any] = [None, None] + [self.delta[l].dot for l in range(2, L + 1)]
        self.forward: list[Any] = [None] + [net.activation.vector_forward(n) for n in widths[1:-1]]
        self.eye = np.eye(widths[-1], dtype=dtype)

    def _tails(self, m: int) -> tuple[list, list]:
        """A sample's update reaches the rows of the samples after it in a block of ``m``:
        ``Z1[r+1:m]ᵀ -= lr·G[r, r+1:m] ⊗ delta1``; the row views, made once per block length."""
        G, Z1 = self.G, self.Z1
        return [G[r, r + 1 : m] for r in range(m)], [Z1[r + 1 : m].T for r in range(m)]

    def epoch(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        order: np.ndarray,
        lrs: np.ndarray,
        *,
        augment: Augment | None = None,
        on_progress: Progress | None = None,
        blas_threads: int | None = 1,
    ) -> float:
        """One epoch over ``order`` with learning rate ``lrs[t]`` at step t; the summed loss.

        ``blas_threads``: every BLAS in the process is limited to this many threads while the epoch
        runs (1 by default: these products are far too small to share) and restored afterwards;
        ``None`` leaves the BLAS thread settings alone."""
        total = 0.0
        with limit_blas_threads(blas_threads):
            for start in range(0, len(order), self.chunk):
                idx = order[start : start + self.chunk]
                k = len(idx)
                self.loader.load(x, idx, augment)
                total += self._chunk(k, labels[idx].tolist(), lrs[start : start + k].tolist())
                if on_progress is not None:
                    on_progress(k)
        return total

    def _chunk(self, k: int, ys: list[int], rates: list[float]) -> float:
        """Train on the ``k`` inputs in ``x0``, block by block; the summed loss."""
        losses: list[float] = []  # p_y (cross-entropy) or the loss, per sample
        net, Wb, Z1, G, D1, dtype = self.net, self.net.Wb, self.Z1, self.G, self.D1, self.net.dtype
        for b0 in range(0, k, self.block):
            m = min(self.block, k - b0)
            X = self.x0[b0 : b0 + m]
            np.matmul(X, Wb[0].T, out=Z1[:m])
            np.matmul(X, X.T, out=G[:m, :m])
            tails = self.tails if m == self.block else self._tails(m)  # a chunk's short last block
            self._block(m, ys[b0 : b0 + m], rates[b0 : b0 + m], tails, losses)
            D1[:m] *= np.asarray(rates[b0 : b0 + m], dtype=dtype)[:, None]
            np.matmul(D1[:m].T, X, out=self.dW1)  # the block's first-layer updates, all at once
            Wb[0] -= self.dW1
        if isinstance(net.loss, CrossEntropy):
            return float(np.sum(log_loss(losses, np.finfo(dtype).tiny)))
        return float(np.sum(losses))

    def _block(
        self, m: int, ys: list[int], rates: list[float], tails: tuple[list, list], losses: list
    ) -> None:
        """The hot loop, one sample per iteration (60,000 per epoch, under 15 µs each): kept as ONE
        function on purpose, with every array, bound method and constant in a local variable, because
        each attribute lookup or extra call here is paid per sample and per layer. Appends to ``losses``
        p_y (cross-entropy) or the sample's loss."""
        net, L, ger, loss = self.net, self.net.n_layers, self.ger, self.net.loss
        a, h, z, delta, back, da = self.a, self.h, self.z, self.delta, self.back, self.da
        Wb, WbT, W_dot, delta_dot, forward = net.Wb, self.WbT, self.W_dot, self.delta_dot, self.forward
        Z1_rows, D1_rows, (g_after, z_after), eye = self.Z1_rows, self.D1_rows, tails, self.eye
        ce, backward, append = isinstance(loss, CrossEntropy), net.activation.backward, losses.append
        layers_up, layers_down = tuple(range(1, L)), tuple(range(L, 1, -1))
        for r, y, lr in zip(range(m), ys, rates, strict=True):
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
                append(p_y)
                d[y] = p_y - 1.0
            else:
                append(loss.value(zL, eye[y]))
                d[...] = loss.delta(zL, eye[y], softmax(zL))
            for l in layers_down:  # backward, then update layer l with the gradient just found
                delta_dot[l](Wb[l - 1], out=back[l])  # W_lᵀ·delta_l, before W_l's update
                backward(z[l - 1], h[l - 1], da[l], out=delta[l - 1])
                ger(-lr, a[l - 1], delta[l], a=WbT[l - 1], overwrite_a=1)  # W_l -= lr·delta ⊗ a
            if r + 1 < m:  # this sample's first-layer update, as the later samples will see it
                ger(-lr, delta[1], g_after[r], a=z_after[r], overwrite_a=1)


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
        self.H: list[Any] = [None] + [
            np.empty((n, widths[l]), dtype=dtype) if dropout else self.A[l][:, : widths[l]]
            for l in range(1, L)
        ]
        self.masks: list[Any] = (
            [None] + [np.empty((n, widths[l]), dtype=dtype) for l in range(1, L)] if dropout else []
        )
        self.Z: list[Any] = [None] + [np.empty((n, w), dtype=dtype) for w in widths[1:]]
        self.delta: list[Any] = [None] + [np.empty((n, w), dtype=dtype) for w in widths[1:]]  # ∂L/∂Z_l
        self.back: list[Any] = [None, None] + [np.empty((n, w + bias), dtype=dtype) for w in widths[1:-1]]
        self.dWb = [np.zeros_like(Wb) for Wb in net.Wb]
        self.loader = InputLoader(self.A[0][:, : widths[0]])
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
        if self.dropout and rng is None:
            raise ValueError("dropout draws its masks from rng: pass a np.random.Generator")
        net, L, act = self.net, self.net.n_layers, self.net.activation
        widths = net.sizes
        for l in range(1, L + 1):  # Z_l = [A_{l-1} | 1] @ Wb_lᵀ  (= A @ Wᵀ + b)
            np.matmul(self.A[l - 1][:m], net.Wb[l - 1].T, out=self.Z[l][:m])
            if l < L:
                act.forward(self.Z[l][:m], out=self.H[l][:m])
                if self.dropout:  # inverted dropout: keep with prob 1-r, scale by 1/(1-r)
                    mask = self.masks[l][:m]
                    assert rng is not None  # checked above
                    rng.random(dtype=mask.dtype, out=mask)
                    np.greater_equal(mask, self.dropout, out=mask)
                    mask *= 1.0 / (1.0 - self.dropout)
                    np.multiply(self.H[l][:m], mask, out=self.A[l][:m, : widths[l]])
        zL = self.Z[L][:m]
        rows = np.arange(m)
        if isinstance(net.loss, CrossEntropy):
            delta = softmax(zL, out=self.delta[L][:m])
            loss = float(log_loss(delta[rows, y], np.finfo(net.dtype).tiny).sum())
            delta[rows, y] -= 1.0
            delta *= 1.0 / m
        else:
            t = one_hot(y, widths[-1], net.dtype)
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

    def epoch(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        order: np.ndarray,
        lrs: np.ndarray,
        optimizer: Optimizer,
        *,
        rng: np.random.Generator | None = None,
        augment: Augment | None = None,
        on_progress: Progress | None = None,
    ) -> float:
        """One epoch of mini-batches in ``order``: batch i is trained with learning rate ``lrs[i]`` and
        stepped by ``optimizer`` (plain SGD without L2 is fused into the backward pass, and counted as
        one optimizer step); ``rng`` draws the dropout masks. Returns the summed loss."""
        batch = self.A[0].shape[0]
        fuse_sgd = optimizer.is_plain_sgd and not self.l2
        total, pending = 0.0, 0
        for i, start in enumerate(range(0, len(order), batch)):
            idx = order[start : start + batch]
            m = len(idx)
            self.loader.load(x, idx, augment)
            optimizer.lr = float(lrs[i])
            if fuse_sgd:  # plain SGD: the step is taken inside the backward pass
                total += self.forward_backward(m, labels[idx], rng, sgd_lr=optimizer.lr)
                optimizer.t += 1  # the step the optimizer would have counted
            else:
                total += self.forward_backward(m, labels[idx], rng)
                optimizer.step(self.net.params, self.grads)
            pending += m
            if on_progress is not None and (pending >= 1000 or start + m == len(order)):
                on_progress(pending)
                pending = 0
        return total
