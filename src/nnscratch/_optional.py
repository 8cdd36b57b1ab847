"""Optional dependencies: one place that imports them and says which extra to install.

NumPy is the only hard dependency. Everything else is imported where it is needed, through
:func:`require` (the feature cannot work without it: a one-line error naming the extra) or
:func:`optional` (a speed-up or a nicety: ``None`` when it is missing).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from nnscratch.errors import NNScratchError

#: Distribution names where they differ from the top-level module.
_DISTRIBUTIONS = {"PIL": "Pillow", "sklearn": "scikit-learn", "yaml": "PyYAML"}


class MissingDependency(NNScratchError, ImportError):
    """An optional dependency that a feature needs is not installed."""


def require(
    module: str, extra: str, purpose: str, *, error: type[Exception] = MissingDependency
) -> ModuleType:
    """Import ``module`` for ``purpose``; when it is missing, raise ``error`` with one line such as
    ``drawing plots needs matplotlib, which is not installed: pip install 'nnscratch[plots]'``."""
    try:
        return _import(module)
    except ImportError as exc:
        top = module.split(".")[0]
        name = _DISTRIBUTIONS.get(top, top)
        message = f"{purpose} needs {name}, which is not installed: pip install 'nnscratch[{extra}]'"
        raise error(message) from exc


def optional(module: str) -> ModuleType | None:
    """``module`` when it can be imported, else None (for optional speed-ups)."""
    try:
        return _import(module)
    except ImportError:
        return None


def _import(module: str) -> ModuleType:
    """``import module``, its top-level package first, so a package that is missing (or blocked with
    ``sys.modules[name] = None``) fails even when one of its submodules was imported before."""
    importlib.import_module(module.partition(".")[0])
    return importlib.import_module(module)
