"""Exceptions raised by nnscratch.

Every error a user can cause (bad data file, wrong checksum, broken model file, bad option, diverging
training) is an :class:`NNScratchError` subclass carrying one readable sentence, so the command-line
interface can print it as a single line instead of a traceback.
"""

from __future__ import annotations


class NNScratchError(Exception):
    """Base class of every error nnscratch raises on purpose."""


class DataError(NNScratchError, ValueError):
    """A data file is missing, malformed, truncated or fails its checksum."""


class ModelFileError(NNScratchError, ValueError):
    """A saved model file is missing, truncated, of the wrong format or inconsistent."""


class TrainingDiverged(NNScratchError, FloatingPointError):
    """The training loss became NaN or infinite."""


class ImageError(NNScratchError, ValueError):
    """An image given for prediction cannot be read or holds no digit."""


class FinetuneError(NNScratchError, ValueError):
    """Fine-tuning was given unusable digits, labels or options."""
