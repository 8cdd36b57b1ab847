"""Moved to :mod:`nnscratch.training.optimizers`.

This module keeps ``nnscratch.optimizers`` importing: it *is* that module."""

import sys

from nnscratch.training import optimizers

sys.modules[__name__] = optimizers
