"""Moved to :mod:`nnscratch.images.preprocess`.

This module keeps ``nnscratch.preprocess`` importing: it *is* that module."""

import sys

from nnscratch.images import preprocess

sys.modules[__name__] = preprocess
