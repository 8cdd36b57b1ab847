"""Moved to :mod:`nnscratch.evaluation.plots`.

This module keeps ``nnscratch.plots`` importing: it *is* that module."""

import sys

from nnscratch.evaluation import plots

sys.modules[__name__] = plots
