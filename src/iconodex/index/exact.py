"""Exact search over the store's own vectors: the answer while an ANN index is missing, damaged
or being rebuilt. Read-only; one space's matrix is read from SQLite on first use and read again
when the number of indexed items changed (looked at most once per ``recheck_s``)."""

from __future__ import annotations

import threading
import time

import numpy as np

from ..store import ItemStore

EMPTY = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


class StoreScan:
    """A read-only :class:`~iconodex.index.base.VectorEngine` that scores every stored vector."""

    def __init__(self, store: ItemStore, recheck_s: float = 1.0) -> None:
        self.store = store
        self.recheck_s = recheck_s
        self._spaces: tuple[float, dict[str, int]] = (0.0, {})
        self._matrices: dict[str, tuple[float, int, np.ndarray, np.ndarray]] = {}  # checked, stamp, keys, vectors
        self._lock = threading.Lock()

    def spaces(self) -> dict[str, int]:
        checked, found = self._spaces
        if time.monotonic() - checked > self.recheck_s:
            found = self.store.vector_dims()
            self._spaces = (time.monotonic(), found)
        return dict(found)

    def _matrix(self, space: str) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            now = time.monotonic()
            checked, stamp, keys, vectors = self._matrices.get(space, (0.0, -1, *EMPTY))
            if now - checked <= self.recheck_s:
                return keys, vectors
            indexed = self.store.vector_counts(space)[0]
            if indexed != stamp:
                batches = list(self.store.iter_vectors(space))
                keys = np.concatenate([b[0] for b in batches]) if batches else EMPTY[0]
                dims = self.spaces().get(space, 0)
                vectors = np.vstack([b[1] for b in batches]) if batches else np.zeros((0, dims), np.float32)
            self._matrices[space] = (now, indexed, keys, vectors)
            return keys, vectors

    def count(self, space: str) -> int:
        return len(self._matrix(space)[0])

    def get(self, space: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = np.asarray(keys, dtype=np.int64)
        out = np.zeros((len(keys), self.spaces().get(space, 0)), dtype=np.float32)
        found, vectors = self.store.vectors_for(space, keys.tolist())
        row = {int(k): i for i, k in enumerate(found)}
        present = np.asarray([int(k) in row for k in keys], dtype=bool)
        if present.any():
            out[present] = vectors[[row[int(k)] for k in keys[present]]]
        return out, present

    def search(self, space: str, query: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        keys, vectors = self._matrix(space)
        if allowed is not None:
            keep = np.isin(keys, np.asarray(allowed, dtype=np.int64))
            keys, vectors = keys[keep], vectors[keep]
        if k <= 0 or len(keys) == 0:
            return EMPTY
        scores = vectors @ np.asarray(query, dtype=np.float32).reshape(-1)
        order = _top(scores, k)
        return keys[order], scores[order].astype(np.float32)

    def search_many(self, space: str, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.asarray(queries, dtype=np.float32)
        out_keys = np.full((len(queries), k), -1, dtype=np.int64)
        out_scores = np.zeros((len(queries), k), dtype=np.float32)
        for row, query in enumerate(queries):
            keys, scores = self.search(space, query, k)
            out_keys[row, :len(keys)] = keys
            out_scores[row, :len(keys)] = scores
        return out_keys, out_scores


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first."""
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.argsort(-scores[part], kind="stable")]
    return np.argsort(-scores, kind="stable")
