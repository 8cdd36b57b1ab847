"""Callbacks: the one path through which training reports progress.

Training code never prints. It calls, on every callback it was given:

* ``on_train_begin(net, epochs, n_samples)``
* ``on_epoch_begin(epoch)``                 epochs are numbered from 1, as the tutorial printed them
* ``on_progress(n)``                        n more samples were trained on (about every 1000 samples)
* ``on_epoch_end(epoch, logs)``             ``logs`` is the history entry of that epoch
* ``on_train_end(history)``

:class:`EpochLogger` writes one line per epoch: the tutorial's own line (``style="tutorial"``, what
``DeepNeuralNetwork.train()`` prints) or the command line's (``style="cli"``:
``Epoch 3/10 · 1.05 s · loss 0.0810 · val_loss 0.1064 · val_acc 96.82 %``); :class:`ProgressBar` draws a
tqdm bar within each epoch and prints the same lines above it (the ``cli`` extra installs tqdm).
A callback that holds something (a progress bar) lets go of it in ``close()``, which is safe to call at
any time, e.g. when training is interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from nnscratch._optional import require


class Callback:
    """Base class with do-nothing hooks; override the ones you need."""

    def on_train_begin(self, net, epochs: int, n_samples: int) -> None: ...

    def on_epoch_begin(self, epoch: int) -> None: ...

    def on_progress(self, n: int) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict) -> None: ...

    def on_train_end(self, history: list[dict]) -> None: ...

    def close(self) -> None:
        """Release what the callback holds (called when training stops early, e.g. on Ctrl-C)."""


def format_epoch(logs: dict) -> str:
    """``Epoch: 3, Time Spent: 4.12s, Loss: 0.1034, Accuracy: 97.41%`` (accuracy on validation data)."""
    line = f"Epoch: {logs['epoch']}, Time Spent: {logs['time']:.2f}s, Loss: {logs['loss']:.4f}"
    if logs.get("val_accuracy") is not None:
        line += f", Accuracy: {100 * logs['val_accuracy']:.2f}%"
    return line


def format_epoch_cli(logs: dict, epochs: int | None = None) -> str:
    """``Epoch 3/10 · 1.05 s · loss 0.0810 · val_loss 0.1064 · val_acc 96.82 %``: what each number is."""
    parts = [f"Epoch {logs['epoch']}" + (f"/{epochs}" if epochs else ""), f"{logs['time']:.2f} s"]
    parts.append(f"loss {logs['loss']:.4f}")
    if logs.get("val_loss") is not None:
        parts.append(f"val_loss {logs['val_loss']:.4f}")
    if logs.get("val_accuracy") is not None:
        parts.append(f"val_acc {100 * logs['val_accuracy']:.2f} %")
    return " · ".join(parts)


STYLES = ("cli", "tutorial")


def _formatter(style: str) -> Callable[[dict, int], str]:
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    return format_epoch_cli if style == "cli" else (lambda logs, epochs: format_epoch(logs))


class EpochLogger(Callback):
    """Write one line per epoch with ``write`` (default: print to stdout), in ``style``
    (``tutorial``, the default, or ``cli``)."""

    def __init__(self, write: Callable[[str], None] | None = None, style: str = "tutorial") -> None:
        self.write = write or (lambda line: print(line, file=sys.stdout, flush=True))
        self.format = _formatter(style)
        self.epochs = 0

    def on_train_begin(self, net, epochs, n_samples):
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs):
        self.write(self.format(logs, self.epochs))


class ProgressBar(Callback):
    """A tqdm progress bar over the samples of each epoch, plus the epoch line printed above it."""

    def __init__(self, file=None, style: str = "tutorial") -> None:
        self.format = _formatter(style)
        self._tqdm = require("tqdm.auto", "cli", "a progress bar").tqdm
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
        self.close()
        self._tqdm.write(self.format(logs, self.epochs), file=sys.stdout)

    def on_train_end(self, history):
        self.close()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class FractionProgress(Callback):
    """Report progress as the fraction of all samples of all epochs done so far: ``report(0.0 … 1.0)``.

    For callers that show one bar for a whole run (``nnscratch finetune``, the web app)."""

    def __init__(self, report: Callable[[float], None]) -> None:
        self.report = report
        self.total = 0
        self.done = 0

    def on_train_begin(self, net, epochs, n_samples):
        self.total, self.done = max(1, epochs * n_samples), 0

    def on_progress(self, n):
        self.done += n
        self.report(min(1.0, self.done / self.total))


class FractionBar:
    """One tqdm bar for a whole run, fed with the fraction done: ``bar(0.25)``; ``bar.close()`` at the
    end. It is the ``progress`` argument of :func:`nnscratch.training.finetune.finetune` in the CLI."""

    STEPS = 1000

    def __init__(self, desc: str = "", file=None) -> None:
        tqdm = require("tqdm.auto", "cli", "a progress bar").tqdm  # MissingDependency is an ImportError
        self.bar = tqdm(
            total=self.STEPS,
            desc=desc,
            leave=False,
            file=file or sys.stderr,
            dynamic_ncols=True,
            bar_format="{l_bar}{bar}| {elapsed}<{remaining}",
        )

    def __call__(self, fraction: float) -> None:
        target = round(self.STEPS * min(max(fraction, 0.0), 1.0))
        if target > self.bar.n:
            self.bar.update(target - self.bar.n)

    def close(self) -> None:
        self.bar.close()
