"""Moved to :mod:`nnscratch.evaluation.metrics`.

This module keeps ``nnscratch.metrics`` importing: it *is* that module."""

import sys

from nnscratch.evaluation import metrics

sys.modules[__name__] = metrics
