"""Training: the trainable :class:`DeepNeuralNetwork` and everything it trains with.

``trainer`` (the class: ``train``, history, early stopping; it chooses the engine), ``engines`` (the
epoch loops: the same maths as :mod:`nnscratch.network`, with buffers and fused BLAS calls),
``optimizers`` (optimizers and learning-rate schedules), ``callbacks`` (epoch logging, progress bars),
``presets`` (named recipes), ``checkpoint`` and ``modelfile`` (``.npz`` + JSON model files, never pickle).
"""

from nnscratch.training.trainer import DeepNeuralNetwork

__all__ = ["DeepNeuralNetwork"]
