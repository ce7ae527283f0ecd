"""The offline model's nearest-neighbour bridge from pictures to text (pack version 3).

A picture's k nearest *training* pictures (Open Clip Art drawings and Noto emoji, the same pairs the
ridge map of :mod:`.projection` is fitted to) vote with ``softmax(cosine / tau)`` weights; the bridge's
vector is the normalised weighted mean of their text targets (e5 query vectors of their titles or
CLDR names). Neighbours are found on the training features' first principal components, which finds
drawings that share a style or subject with ones the training set names even where no linear map does.

The picture's ``image`` vector is then ``normalise(r·ridge + n·neighbours + (1 − r − n)·ConSE)``, the
shares chosen on the validation split. Written by ``benchmarks/neighbour_bridge.py --write`` to
``data/neighbours-<variant>.npz`` (float16; recipe, figures and licences in docs/models.md) with its
ridge map in ``data/ridge-<variant>.npz``; applied with NumPy.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelNotAvailableError
from . import projection
from .base import l2_normalise

FILE = "neighbours-{variant}.npz"
RIDGE_FILE = "ridge-{variant}.npz"  # fitted on every training picture; projection-<variant>.npz stays for version 2


@dataclass(frozen=True)
class Neighbours:
    """The training pictures in principal-component space and what names them."""

    mean: np.ndarray  # (features,): the training features' mean
    components: np.ndarray  # (features, dims): their first principal directions
    bank: np.ndarray  # (pictures, dims): the training pictures, reduced and normalised
    targets: np.ndarray  # (pictures, text dims): their normalised e5 query vectors
    k: int
    tau: float
    share: float  # the neighbours' share; the ridge map's is ``ridge.alpha``, ConSE gets the rest
    digest: str  # of the stored file: the picture vectors change when it does

    def reduce(self, features: np.ndarray) -> np.ndarray:
        """Normalised pooled features → the normalised space neighbours are found in."""
        return l2_normalise((np.asarray(features, np.float32) - self.mean) @ self.components)

    def vectors(self, features: np.ndarray) -> np.ndarray:
        """The softmax(cosine / tau)-weighted mean of the k nearest training pictures' targets."""
        similarity = self.reduce(features) @ self.bank.T
        k = min(self.k, similarity.shape[1])
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        logits = np.take_along_axis(similarity, nearest, axis=1) / self.tau
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        return l2_normalise(np.einsum("qk,qkd->qd", weights, self.targets[nearest]))


@dataclass(frozen=True)
class Bridge:
    """Ridge map + neighbours + ConSE: pack version 3's picture leg."""

    ridge: projection.Projection  # its ``alpha`` is the ridge map's share here
    neighbours: Neighbours

    def apply(self, features: np.ndarray, conse_vectors: np.ndarray) -> np.ndarray:
        """Normalised pooled features and centred ConSE vectors → the ``image`` space's vectors."""
        features = np.asarray(features, np.float32)
        if len(features) == 0:
            return np.zeros((0, self.neighbours.targets.shape[1]), np.float32)
        ridge = l2_normalise(features @ self.ridge.weight + self.ridge.bias)
        r, n = self.ridge.alpha, self.neighbours.share
        return l2_normalise(r * ridge + n * self.neighbours.vectors(features)
                            + (1.0 - r - n) * np.asarray(conse_vectors, np.float32))

    def describe(self) -> dict[str, str]:
        near = self.neighbours
        return {"projection": f"{self.ridge.digest} (share {self.ridge.alpha:g})",
                "neighbours": f"{near.digest} (k {near.k}, tau {near.tau:g}, share {near.share:g})"}


@functools.cache
def load(variant: str) -> Bridge | None:
    """The shipped bridge for ``variant``, or None when none was built for it."""
    path = projection.data_path(variant, FILE)
    ridge = projection.load(variant, RIDGE_FILE)
    if not path.is_file() or ridge is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {name: data[name].astype(np.float32) for name in ("mean", "components", "bank", "targets")}
            k, tau, share = int(data["k"]), float(data["tau"]), float(data["share"])
    except (OSError, ValueError, KeyError) as err:
        raise ModelNotAvailableError(f"the offline model's {path.name} is damaged ({err}); reinstall iconodex") from None
    digest = hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()
    return Bridge(ridge, Neighbours(**fields, k=k, tau=tau, share=share, digest=digest))


def save(variant: str, neighbours: dict[str, np.ndarray], k: int, tau: float, share: float,
         path: Path | None = None) -> Path:
    """Store the neighbour bank (``mean``, ``components``, ``bank``, ``targets``) as float16, by default
    where the package ships it; used by benchmarks/neighbour_bridge.py."""
    path = path or projection.data_path(variant, FILE)
    arrays = {name: np.asarray(neighbours[name]).astype(np.float16) for name in ("mean", "components", "bank", "targets")}
    np.savez_compressed(path, **arrays, k=np.int32(k), tau=np.float32(tau), share=np.float32(share))
    load.cache_clear()
    return path
