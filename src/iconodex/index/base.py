"""The index seam: a vector engine keeps one ANN index per named space, keyed by item key (int)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class VectorEngine(Protocol):
    """Cosine similarity over L2-normalised float32 vectors.

    Keys are the collection's integer item keys. ``search`` returns (keys, similarities) best
    first; with ``allowed`` it only returns keys from that set (a payload filter), without
    scanning the whole collection when the set is small.
    """

    def ensure_space(self, space: str, dims: int) -> None: ...

    def upsert(self, space: str, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace; replacing a key never leaves a duplicate."""
        ...

    def delete(self, space: str, keys: np.ndarray) -> None: ...

    def search(
        self, space: str, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def search_many(self, space: str, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Batched search: (n, k) keys and similarities; missing slots have key -1."""
        ...

    def get(self, space: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stored vectors for ``keys``: (vectors (n, dim), present mask (n,))."""
        ...

    def count(self, space: str) -> int: ...

    def spaces(self) -> dict[str, int]: ...

    def rebuild(self, space: str, dims: int, batches: Iterable[tuple[np.ndarray, np.ndarray]], *,
                save: bool = True) -> None:
        """Replace ``space``'s index by (keys, vectors) ``batches`` (the store's), without reading
        the old one; ``save=False`` keeps it in memory (a read-only process)."""
        ...

    def flush(self) -> None:
        """Make everything upserted so far durable."""
        ...

    def close(self) -> None: ...
