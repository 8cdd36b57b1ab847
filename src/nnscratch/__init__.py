"""nnscratch: a neural network from scratch in NumPy that learns to read handwritten digits.

The folders show the architecture, and imports point one way, from the maths up:

* ``network``, ``activations``, ``losses``, ``inputs``: the maths, read first;
* ``training/``: the trainable :class:`DeepNeuralNetwork`, its fast engines, optimizers, model files;
* ``data/``: verified offline-first MNIST and Fashion-MNIST;
* ``images/``: any picture to an MNIST digit, augmentation;
* ``evaluation/``: metrics, plots, the HTML report;
* ``cli/``, ``sklearn``, ``sweep/``, ``web/``: what users run (``models/`` holds the shipped model).

``DeepNeuralNetwork`` and ``Network`` are imported lazily, so ``import nnscratch.data`` does not load
the training stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nnscratch._version import __version__

if TYPE_CHECKING:
    from nnscratch.network import Network
    from nnscratch.training.trainer import DeepNeuralNetwork

__all__ = ["DeepNeuralNetwork", "Network", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "DeepNeuralNetwork":
        from nnscratch.training.trainer import DeepNeuralNetwork

        return DeepNeuralNetwork
    if name == "Network":
        from nnscratch.network import Network

        return Network
    raise AttributeError(f"module 'nnscratch' has no attribute {name!r}")
