"""Dimension reduction, fitted once and saved with the collection.

``--dims N`` keeps the first N components (as the UForm seed keeps 256); ``--pca N`` fits a PCA
on the first items of a collection and applies that same projection to every later item and
query (the ONiT seed refits per run and so loses its space).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .models.base import l2_normalise


@dataclass
class Reducer:
    """Identity, truncation, or a PCA projection; always ends L2-normalised."""

    dims: int | None = None
    mean: np.ndarray | None = None
    components: np.ndarray | None = None  # (out_dims, in_dims)

    @property
    def is_pca(self) -> bool:
        return self.components is not None

    def out_dims(self, native: int) -> int:
        if self.components is not None:
            return int(self.components.shape[0])
        return min(self.dims, native) if self.dims else native

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.components is not None:
            vectors = (vectors - self.mean) @ self.components.T
        elif self.dims:
            vectors = vectors[..., : self.dims]
        return l2_normalise(vectors)

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, mean=self.mean, components=self.components)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Reducer:
        with np.load(path) as data:
            return cls(mean=data["mean"], components=data["components"])


def fit_pca(samples: np.ndarray, dims: int) -> Reducer:
    """PCA by SVD of the centred samples; components capped by the number of samples."""
    samples = np.asarray(samples, dtype=np.float64)
    mean = samples.mean(axis=0)
    _, _, vt = np.linalg.svd(samples - mean, full_matrices=False)
    keep = min(dims, vt.shape[0])
    return Reducer(mean=mean.astype(np.float32), components=vt[:keep].astype(np.float32))


class Reducers:
    """The reduction of every space of one collection: ``--dims`` truncation, or a PCA per space
    fitted once on the first items and kept under ``<collection>/reducers/``."""

    def __init__(self, folder: Path, *, dims: int | None = None, pca: int | None = None) -> None:
        self.folder = folder
        self.dims = dims
        self.pca = pca
        self._loaded: dict[str, Reducer] = {}

    @property
    def awaiting_fit(self) -> bool:
        return bool(self.pca) and not self.folder.exists()

    def get(self, space: str) -> Reducer:
        if space not in self._loaded:
            path = self.folder / f"{space}.npz"
            self._loaded[space] = Reducer.load(path) if path.exists() else Reducer(dims=self.dims)
        return self._loaded[space]

    def apply(self, space: str, vectors: np.ndarray) -> np.ndarray:
        return self.get(space).apply(vectors)

    def fit(self, samples: dict[str, list[np.ndarray]]) -> None:
        """Fit each space's PCA; spaces already at or below the target keep their vectors."""
        tmp = self.folder.with_name(self.folder.name + ".tmp")
        tmp.mkdir(exist_ok=True)
        for space, rows in samples.items():
            if rows and len(rows[0]) > self.pca and len(rows) > 1:
                fit_pca(np.vstack(rows), self.pca).save(tmp / f"{space}.npz")
        tmp.rename(self.folder)  # atomic: either no PCA or every space's PCA exists
        self._loaded.clear()
