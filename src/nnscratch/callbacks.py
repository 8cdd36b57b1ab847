"""Moved to :mod:`nnscratch.training.callbacks`.

This module keeps ``nnscratch.callbacks`` importing: it *is* that module."""

import sys

from nnscratch.training import callbacks

sys.modules[__name__] = callbacks
