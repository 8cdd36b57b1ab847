"""Moved to :mod:`nnscratch.images.augment`.

This module keeps ``nnscratch.augment`` importing: it *is* that module."""

import sys

from nnscratch.images import augment

sys.modules[__name__] = augment
