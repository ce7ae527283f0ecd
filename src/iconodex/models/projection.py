"""The offline model's learned bridge from pictures to text: a linear map from EfficientNet-Lite's
pooled features into the multilingual-e5 query space, combined with ConSE.

Trained by ``benchmarks/train_projection.py`` on openly licensed picture–text pairs (Open Clip Art
drawings with their titles, descriptions and keywords; Noto emoji with their CLDR names in 14
languages; recipe and licences in docs/models.md). Stored per EfficientNet-Lite variant as float16 in
``data/projection-<variant>.npz`` (under 1 MB) and applied with NumPy: no torch at inference.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ModelNotAvailableError
from .base import l2_normalise

FILE = "projection-{variant}.npz"


@dataclass(frozen=True)
class Projection:
    """``vector(f) = normalise(alpha·normalise(f·weight + bias) + (1 − alpha)·conse)``."""

    weight: np.ndarray  # (features, text dims), float32
    bias: np.ndarray  # (text dims,)
    alpha: float  # the projection's share against ConSE, chosen on the validation split
    digest: str  # of the stored file: the picture vectors change when it does

    def apply(self, features: np.ndarray, conse_vectors: np.ndarray) -> np.ndarray:
        """Normalised pooled features and centred ConSE vectors → the ``image`` space's vectors."""
        projected = l2_normalise(np.asarray(features, np.float32) @ self.weight + self.bias)
        return combine(projected, conse_vectors, self.alpha)


def combine(projected: np.ndarray, conse_vectors: np.ndarray, alpha: float) -> np.ndarray:
    """The weighted sum of two sets of unit vectors, normalised."""
    return l2_normalise(alpha * projected + (1.0 - alpha) * np.asarray(conse_vectors, np.float32))


def data_path(variant: str, pattern: str = FILE) -> Path:
    """Where the package ships ``variant``'s file named by ``pattern`` (this module's or a sibling's)."""
    return Path(str(resources.files("iconodex.models").joinpath("data", pattern.format(variant=variant))))


@functools.cache
def load(variant: str, pattern: str = FILE) -> Projection | None:
    """The shipped projection for ``variant`` (``pattern``: which of its files), or None when none was
    trained for it."""
    path = data_path(variant, pattern)
    if not path.is_file():
        return None
    raw = path.read_bytes()
    try:
        with np.load(path, allow_pickle=False) as data:
            weight, bias, alpha = data["weight"], data["bias"], float(data["alpha"])
    except (OSError, ValueError, KeyError) as err:
        raise ModelNotAvailableError(f"the offline model's {path.name} is damaged ({err}); reinstall iconodex") from None
    return Projection(weight.astype(np.float32), bias.astype(np.float32), alpha,
                      hashlib.blake2b(raw, digest_size=8).hexdigest())


def save(variant: str, weight: np.ndarray, bias: np.ndarray, alpha: float, path: Path | None = None,
         pattern: str = FILE) -> Path:
    """Store a trained projection as float16 (what :func:`load` reads), by default where the package
    ships it; used by the training script."""
    path = path or data_path(variant, pattern)
    np.savez_compressed(path, weight=weight.astype(np.float16), bias=bias.astype(np.float16),
                        alpha=np.float32(alpha))
    load.cache_clear()
    return path
