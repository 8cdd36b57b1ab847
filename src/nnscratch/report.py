"""Moved to :mod:`nnscratch.evaluation.report`.

This module keeps ``nnscratch.report`` importing: it *is* that module."""

import sys

from nnscratch.evaluation import report

sys.modules[__name__] = report
