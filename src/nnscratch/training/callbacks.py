"""Callbacks: the one path through which training reports progress.

Training code never prints. It calls, on every callback it was given:

* ``on_train_begin(net, epochs, n_samples)``
* ``on_epoch_begin(epoch)``                 epochs are numbered from 1, as the tutorial printed them
* ``on_progress(n)``                        n more samples were trained on (about every 1000 samples)
* ``on_epoch_end(epoch, logs)``             ``logs`` is the history entry of that epoch
* ``on_train_end(history)``

:class:`EpochLogger` writes the tutorial's line per epoch; :class:`ProgressBar` draws a tqdm bar within
each epoch (the ``cli`` extra installs tqdm).
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class Callback:
    """Base class with do-nothing hooks; override the ones you need."""

    def on_train_begin(self, net, epochs: int, n_samples: int) -> None: ...

    def on_epoch_begin(self, epoch: int) -> None: ...

    def on_progress(self, n: int) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict) -> None: ...

    def on_train_end(self, history: list[dict]) -> None: ...


def format_epoch(logs: dict) -> str:
    """``Epoch: 3, Time Spent: 4.12s, Loss: 0.1034, Accuracy: 97.41%`` (accuracy on validation data)."""
    line = f"Epoch: {logs['epoch']}, Time Spent: {logs['time']:.2f}s, Loss: {logs['loss']:.4f}"
    if logs.get("val_accuracy") is not None:
        line += f", Accuracy: {100 * logs['val_accuracy']:.2f}%"
    return line


class EpochLogger(Callback):
    """Write one line per epoch with ``write`` (default: print to stdout)."""

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self.write = write or (lambda line: print(line, file=sys.stdout, flush=True))

    def on_epoch_end(self, epoch, logs):
        self.write(format_epoch(logs))


class ProgressBar(Callback):
    """A tqdm progress bar over the samples of each epoch, plus the epoch line printed above it."""

    def __init__(self, file=None) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("progress bars need tqdm: pip install 'nnscratch[cli]'") from exc
        self._tqdm = tqdm
        self.file = file or sys.stderr
        self.bar = None
        self.epochs = 0
        self.n_samples = 0

    def on_train_begin(self, net, epochs, n_samples):
        self.epochs, self.n_samples = epochs, n_samples

    def on_epoch_begin(self, epoch):
        self.bar = self._tqdm(
            total=self.n_samples,
            desc=f"epoch {epoch}/{self.epochs}",
            unit="img",
            unit_scale=True,
            leave=False,
            file=self.file,
            dynamic_ncols=True,
        )

    def on_progress(self, n):
        if self.bar is not None:
            self.bar.update(n)

    def on_epoch_end(self, epoch, logs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self._tqdm.write(format_epoch(logs), file=sys.stdout)

    def on_train_end(self, history):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
