"""The engine a collection uses: its ANN engine while that is sound, exact answers from the store
while a space's index is missing or damaged, and a rebuild from the store on demand.

The ANN index is derived data (the store keeps every vector), so a damaged index must never
break a command or a server: reads fail over to :class:`~iconodex.index.exact.StoreScan`, writes
rebuild the space first, and ``on_damage`` lets a server rebuild in the background.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import numpy as np

from ..errors import IndexDamagedError
from ..progress import counted
from ..store import ItemStore
from .base import VectorEngine
from .exact import StoreScan

log = logging.getLogger(__name__)
MISSING = "its index is missing (deleted files?)"


class CheckedEngine:
    """A :class:`~iconodex.index.base.VectorEngine` wrapping another one (``inner``)."""

    def __init__(self, inner: VectorEngine, store: ItemStore) -> None:
        self.inner = inner
        self.store = store
        self.exact = StoreScan(store)
        self.on_damage: Callable[[str], None] | None = None
        self._reported: set[tuple[str, str]] = set()

    # -- state --------------------------------------------------------------------------------

    def problems(self) -> dict[str, str]:
        """Spaces that cannot be searched through the ANN index now, with the reason; a space's
        file is checked when the space is first used (``check`` uses them all)."""
        found = {space: MISSING for space in self.exact.spaces() if space not in self.inner.spaces()}
        damage = getattr(self.inner, "damage", None)
        return {**found, **(damage() if damage else {})}

    def check(self) -> dict[str, str]:
        """Open every space now (checking its file) and return :meth:`problems`."""
        for space in self.inner.spaces():
            with suppress(IndexDamagedError):  # recorded by the engine: problems() lists it
                self.inner.count(space)
        return self.problems()

    def warm(self) -> None:
        """Prepare every sound space for reads now, not in the first requests, where the engine has
        something to prepare (``warm(space)``: the usearch engine maps its files' rows)."""
        warm = getattr(self.inner, "warm", None)
        if warm is None:
            return
        for space in set(self.inner.spaces()) - set(self.problems()):
            with suppress(IndexDamagedError, KeyError):  # damaged meanwhile: problems() lists it
                warm(space)

    def _report(self, space: str, reason: str) -> None:
        if (space, reason) not in self._reported:
            self._reported.add((space, reason))
            log.warning("index of space %s: %s; answering exactly from the store until it is rebuilt "
                        "(iconodex repair)", space, reason)
        if self.on_damage is not None:
            self.on_damage(space)

    # -- reads --------------------------------------------------------------------------------

    def _read(self, method: str, space: str, *args: Any) -> Any:
        if space not in self.inner.spaces() and space in self.exact.spaces():
            self._report(space, MISSING)
            return getattr(self.exact, method)(space, *args)
        try:
            return getattr(self.inner, method)(space, *args)
        except IndexDamagedError as exc:
            self._report(space, exc.reason)
            return getattr(self.exact, method)(space, *args)

    def spaces(self) -> dict[str, int]:
        return {**self.exact.spaces(), **self.inner.spaces()}

    def count(self, space: str) -> int:
        return self._read("count", space)

    def get(self, space: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self._exact_vectors(space):
            # An f16 or i8 index only proposes candidates; their scores (a rescoring pass over the
            # searcher's 4×-deep candidates) come from the store's exact vectors.
            return self.exact.get(space, keys)
        return self._read("get", space, keys)

    def _exact_vectors(self, space: str) -> bool:
        exact_vectors = getattr(self.inner, "exact_vectors", None)
        if exact_vectors is None:
            return True
        try:
            return exact_vectors(space)
        except (KeyError, IndexDamagedError):  # answered by _read: exactly, from the store
            return True

    def search(self, space: str, query: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self._read("search", space, query, k, allowed)

    def search_many(self, space: str, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._read("search_many", space, queries, k)

    # -- writes -------------------------------------------------------------------------------

    def ensure_space(self, space: str, dims: int) -> None:
        self.inner.ensure_space(space, dims)

    def upsert(self, space: str, keys: np.ndarray, vectors: np.ndarray) -> None:
        self._write("upsert", space, keys, vectors)

    def delete(self, space: str, keys: np.ndarray) -> None:
        self._write("delete", space, keys)

    def _write(self, method: str, space: str, *args: Any) -> None:
        try:
            if space not in self.inner.spaces() and space in self.exact.spaces():
                raise IndexDamagedError(space, MISSING)
            getattr(self.inner, method)(space, *args)
        except IndexDamagedError as exc:
            log.warning("index of space %s: %s; rebuilding it from the store", space, exc.reason)
            self.rebuild(space)
            getattr(self.inner, method)(space, *args)

    def rebuild(self, space: str, *, save: bool = True, advance: Callable[[int], None] | None = None) -> None:
        """Build ``space``'s index again from the store's vectors of indexed items (``advance`` is told
        how many vectors each batch held, as it is read)."""
        batches = self.store.iter_vectors(space)
        if advance is not None:
            batches = counted(batches, advance, size=lambda batch: len(batch[0]))
        self.inner.rebuild(space, self.spaces()[space], batches, save=save)

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # engine-specific extras (memory_bytes, migrate)
        return getattr(self.inner, name)
