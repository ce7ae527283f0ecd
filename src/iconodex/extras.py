"""Optional dependencies: a missing extra is a one-line pip hint, never a ModuleNotFoundError."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import ConfigError


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module``, or say which extra brings it: ``the hdf5 format needs h5py: pip install …``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise ConfigError(f"{what} needs {package}: pip install 'iconodex[{extra}]'") from None
