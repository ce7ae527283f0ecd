"""FAISS as the embedded engine: one ``IndexHNSWFlat`` (inner product on the unit vectors = cosine)
per space, in ``<collection>/index/faiss``, with the files, checks and freshness of ``saved.SavedSpaces``.

``IndexHNSWFlat`` cannot remove a vector, so each space keeps its labels — the item key of each
internal id, -1 once deleted — as the id map of an ``IndexIDMap`` around the graph: one file holds
both, so one checksum covers both. Replacing a key adds its new vector and marks the old id
deleted (a tombstone); searches walk the graph with an ``IDSelectorBitmap`` of the ids they may
return (live ones, and only the ``allowed`` keys' when filtering), so a tombstone or a filtered-out
item is never returned and the filter is applied during the walk, not after it. When tombstones
exceed ``COMPACT_SHARE`` of a space, the next flush rebuilds it from its own stored vectors.

A reader opens a file with ``IO_FLAG_MMAP_IFC``: the vectors and graph stay in the page cache
(``IO_FLAG_MMAP`` alone reads the whole file into memory: 1.2 GB resident at 1M × 256 against
0.2 GB, measured with faiss 1.15). FAISS spreads a batch over its OpenMP threads but runs a single
query on the calling thread, so nothing process-wide (``omp_set_num_threads``) is changed here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import numpy as np

from ..extras import require
from . import ENGINES
from .exact import _top
from .expansion import Points, search_expansion
from .saved import SavedSpaces

faiss = require("faiss", "faiss", "the faiss engine")

# efSearch by the index's size (``expansion.search_expansion``): the smallest (in steps of 8) with recall@10
# ≥ 0.955 — 0.95 and a margin — on clustered 256-d vectors at M=16, built through the engine's upserts as an
# ingest adds them (bench_hnsw.py, 2026-11-25/26): 20k 0.966, 200k 0.965, 1M (upserts of 100k) 0.959, 2M
# (upserts of 100k) 0.955 at 128 and at 120 (80, the old fixed value chosen at 1M: 0.908); 128 was first
# assumed from usearch f32's growth and, measured, kept for the margin a single query set leaves. A
# search-time setting: any saved file opens with it; an explicit ``expansion_search`` option replaces it.
SEARCH_EXPANSIONS: Points = ((20_000, 48), (200_000, 56), (1_000_000, 80), (2_000_000, 128))
EXACT_BELOW = 20_000  # below this many live vectors, a flat scan is as fast and exact (as usearch)
BRUTE_FORCE_FILTER = 20_000  # an allowed set this small is scored directly from its vectors
MAX_FILTERED_EXPANSION = 4096  # the widest walk a filter asks for (a narrower filter is scored directly)
COMPACT_SHARE = 0.2  # tombstones above this share of a space's ids: rebuilt at the next flush
# Maps the file (faiss 1.15 here); a faiss without the flag reads it into memory, which still works.
READ_FLAGS = getattr(faiss, "IO_FLAG_MMAP_IFC", faiss.IO_FLAG_MMAP) | faiss.IO_FLAG_READ_ONLY
GATHER = 65_536  # vectors reconstructed at a time when compacting


class FaissSpace:
    """One space's ``IndexIDMap(IndexHNSWFlat)``; its id map is the labels (internal id → key)."""

    def __init__(self, index: faiss.IndexIDMap) -> None:
        self.index = index  # owns the graph: kept so the graph outlives every search
        self.graph = faiss.downcast_index(index.index)
        self._labels: np.ndarray | None = None
        self._matrix: np.ndarray | None = None
        self._plain: dict[int, faiss.SearchParametersHNSW] = {}  # efSearch → parameters without a filter
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None  # (sorted live keys, their ids)
        self._live: np.ndarray | None = None  # packed bitmap of live ids, when there are tombstones
        labels = self.labels
        self.size = int((labels >= 0).sum())
        self._span = (int(labels.min()), int(labels.max())) if len(labels) else (0, -1)  # keys ever added

    @classmethod
    def new(cls, dims: int, connectivity: int, expansion_add: int) -> FaissSpace:
        graph = faiss.IndexHNSWFlat(dims, connectivity, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = expansion_add
        return cls(faiss.IndexIDMap(graph))  # FAISS's wrapper keeps ``graph`` alive with the map

    @property
    def labels(self) -> np.ndarray:
        """A view of the id map, made again after each change (an add may move it)."""
        if self._labels is None:
            total = int(self.index.ntotal)
            self._labels = faiss.rev_swig_ptr(self.index.id_map.data(), total) if total else np.zeros(0, np.int64)
        return self._labels

    @property
    def tombstones(self) -> int:
        return int(self.index.ntotal) - self.size

    def ids(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(internal id, present mask) of ``keys`` among the live ones."""
        keys = np.asarray(keys, dtype=np.int64)
        if len(keys) == 0 or keys.min() > self._span[1] or keys.max() < self._span[0]:
            return np.zeros(len(keys), np.int64), np.zeros(len(keys), bool)  # new keys (an ingest's): no sort
        if self._lookup is None:
            labels = self.labels
            live = np.flatnonzero(labels >= 0)
            order = live[np.argsort(labels[live], kind="stable")]
            self._lookup = (labels[order], order)
        sorted_keys, order = self._lookup
        if len(sorted_keys) == 0:
            return np.zeros(len(keys), np.int64), np.zeros(len(keys), bool)
        at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
        return order[at], sorted_keys[at] == keys

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace: a key present already gets its old id marked deleted first."""
        self.remove(keys)
        keys = np.asarray(keys, dtype=np.int64)
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), keys)
        self.size += len(keys)
        self._span = (min(self._span[0], int(keys.min())), max(self._span[1], int(keys.max())))
        self._changed()

    def remove(self, keys: np.ndarray) -> None:
        ids, present = self.ids(keys)
        if present.any():
            self.labels[ids[present]] = -1
            self.size -= int(present.sum())
            self._changed()

    def _changed(self) -> None:
        self._lookup = self._live = self._labels = self._matrix = None

    @property
    def matrix(self) -> np.ndarray:
        """The stored vectors as one (ids, dims) view of the flat storage (in the mapped file for a
        reader): a gather from it, unlike ``reconstruct_batch`` past 1,000 ids, starts no OpenMP team."""
        if self._matrix is None:
            storage = faiss.downcast_index(self.graph.storage)
            total, dims = int(storage.ntotal), int(storage.d)
            self._matrix = faiss.rev_swig_ptr(storage.get_xb(), total * dims).reshape(total, dims) if total \
                else np.zeros((0, dims), np.float32)
        return self._matrix

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self.matrix[np.asarray(ids, dtype=np.int64)]

    def live_bitmap(self) -> np.ndarray | None:
        """Packed bits of the ids a search may return, or None when every id is live."""
        if self.tombstones == 0:
            return None
        if self._live is None:
            self._live = np.packbits(self.labels >= 0, bitorder="little")
        return self._live

    def bitmap(self, ids: np.ndarray) -> np.ndarray:
        chosen = np.zeros(int(self.index.ntotal), dtype=bool)
        chosen[ids] = True
        return np.packbits(chosen, bitorder="little")

    def search(self, queries: np.ndarray, k: int, ef: int, bits: np.ndarray | None,
               exact: bool) -> tuple[np.ndarray, np.ndarray]:
        """(keys, scores) of shape (n, k), -1 where fewer than ``k`` were found; ``bits`` limits the ids."""
        selector = faiss.IDSelectorBitmap(int(self.index.ntotal), faiss.swig_ptr(bits)) if bits is not None else None
        if exact:  # the graph's own flat storage, scanned (with the same selector)
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
            scores, ids = self.graph.storage.search(queries, k, params=params)
        else:
            scores, ids = self.graph.search(queries, k, params=self._params(max(ef, k), selector))
        if ids.min() >= 0:  # all found: the usual case, one gather
            return self.labels[ids], scores
        keys = np.where(ids >= 0, self.labels[np.maximum(ids, 0)], -1)
        return keys, np.where(keys >= 0, scores, 0.0).astype(np.float32)

    def _params(self, ef: int, selector: faiss.IDSelector | None) -> faiss.SearchParametersHNSW:
        if selector is not None:
            return faiss.SearchParametersHNSW(efSearch=ef, sel=selector)
        if ef not in self._plain:
            self._plain[ef] = faiss.SearchParametersHNSW(efSearch=ef)
        return self._plain[ef]

    def compacted(self, connectivity: int, expansion_add: int) -> FaissSpace:
        """A new space holding only the live vectors, read back from this one's storage."""
        fresh = FaissSpace.new(int(self.graph.d), connectivity, expansion_add)
        live = np.flatnonzero(self.labels >= 0)
        for start in range(0, len(live), GATHER):
            ids = live[start:start + GATHER]
            fresh.add(self.labels[ids].copy(), self.vectors(ids))
        return fresh


class FaissEngine(SavedSpaces):
    """A :class:`~iconodex.index.base.VectorEngine` over FAISS HNSW indexes, one file per space."""

    suffix = "faiss"
    library = "FAISS"

    def __init__(self, directory: Path, *, connectivity: int | str = 16, expansion_add: int | str = 128,
                 expansion_search: int | str | None = None, exact_below: int | str = EXACT_BELOW,
                 compact_share: float | str = COMPACT_SHARE, read_only: bool = False) -> None:
        """``expansion_search``: a fixed efSearch; by default it follows each index's size
        (``SEARCH_EXPANSIONS``)."""
        # ``--engine-option`` values arrive as text
        self.connectivity, self.expansion_add = int(connectivity), int(expansion_add)
        self.expansion_search = int(expansion_search) if expansion_search is not None else None
        self.exact_below = int(exact_below)
        self.compact_share = float(compact_share)
        # A writer mutates a space in place (FAISS is not safe to search while it adds); a reader's
        # spaces never change once opened (a newer file is opened as a new object), so it takes no lock.
        self._searching = threading.RLock()
        super().__init__(Path(directory) / "faiss", read_only=read_only)

    # -- the library's side of the files ------------------------------------------------------

    def _new_index(self, dims: int) -> FaissSpace:
        return FaissSpace.new(dims, self.connectivity, self.expansion_add)

    def _size(self, index: FaissSpace) -> int:
        return index.size

    def _read(self, path: Path, *, view: bool) -> tuple[FaissSpace, int]:
        index = faiss.read_index(str(path), READ_FLAGS if view else 0)
        if not isinstance(index, faiss.IndexIDMap) or not isinstance(faiss.downcast_index(index.index),
                                                                    faiss.IndexHNSWFlat):
            raise ValueError(f"not an IndexIDMap over IndexHNSWFlat but {type(index).__name__}")
        return FaissSpace(index), int(index.d)

    def _write(self, index: FaissSpace, path: Path) -> None:
        faiss.write_index(index.index, str(path))

    # -- writes -------------------------------------------------------------------------------

    def _put(self, index: FaissSpace, keys: np.ndarray, vectors: np.ndarray) -> None:
        index.add(keys, vectors)

    def _remove(self, index: FaissSpace, keys: np.ndarray) -> None:
        index.remove(keys)

    def _changing(self) -> AbstractContextManager:
        return self._searching

    def flush(self) -> None:
        """Compact the changed spaces with too many tombstones, then save them."""
        with self._lock:
            for space in self._dirty:
                index = self._indexes[space]
                if index.tombstones > self.compact_share * max(index.index.ntotal, 1):
                    with self._searching:
                        self._indexes[space] = index.compacted(self.connectivity, self.expansion_add)
            super().flush()

    # -- reads --------------------------------------------------------------------------------

    def _expansion(self, index: FaissSpace) -> int:
        """efSearch for the graph as it is now: its size counts the tombstones a walk passes through."""
        if self.expansion_search is not None:
            return self.expansion_search
        return search_expansion(int(index.index.ntotal), SEARCH_EXPANSIONS)

    def expansion(self, space: str) -> int:
        """The efSearch a search of ``space`` walks with now."""
        with self._reading(space) as index:
            return self._expansion(index)

    @contextmanager
    def _reading(self, space: str) -> Iterator[FaissSpace]:
        index = self._index(space)
        with self._searching if not self.read_only else nullcontext():
            yield index

    def get(self, space: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = np.asarray(keys, dtype=np.int64)
        out = np.zeros((len(keys), self._records[space].dims), dtype=np.float32)
        if len(keys) == 0:
            return out, np.zeros(0, dtype=bool)
        with self._reading(space) as index:
            ids, present = index.ids(keys)
            out[present] = index.vectors(ids[present])
        return out, present

    def search(self, space: str, query: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if space not in self._records or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        query = np.asarray(query, dtype=np.float32).reshape(1, -1)
        with self._reading(space) as index:
            if allowed is not None:
                return self._search_allowed(index, query, k, np.asarray(allowed, dtype=np.int64))
            if index.size == 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            keys, scores = index.search(query, min(k, index.size), self._expansion(index), index.live_bitmap(),
                                        exact=index.size < self.exact_below)
        found = keys[0] >= 0
        return keys[0][found], scores[0][found]

    def _search_allowed(self, index: FaissSpace, query: np.ndarray, k: int,
                        allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids, present = index.ids(allowed)
        ids = np.unique(ids[present])
        if len(ids) > BRUTE_FORCE_FILTER:  # the filter applied during the walk (an id bitmap)
            # Only allowed ids fill the result list, so the walk goes as much wider as the filter is
            # narrow: at the same efSearch a 30% filter far from the query kept 2 of the exact 10.
            ef = min(int(self._expansion(index) * index.size / len(ids)), MAX_FILTERED_EXPANSION)
            keys, scores = index.search(query, k, ef, index.bitmap(ids), exact=False)
            found = keys[0] >= 0
            if found.sum() >= min(k, len(ids)):
                return keys[0][found], scores[0][found]
        # A small set (or a walk that found too few): score the allowed items' own vectors.
        scores = index.vectors(ids) @ query[0]
        best = _top(scores, k)
        return index.labels[ids[best]].astype(np.int64), scores[best].astype(np.float32)

    def search_many(self, space: str, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        keys = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        with self._reading(space) as index:
            if index.size == 0 or len(queries) == 0 or k <= 0:
                return keys, scores
            width = min(k, index.size)
            keys[:, :width], scores[:, :width] = index.search(queries, width, self._expansion(index),
                                                              index.live_bitmap(), exact=index.size < self.exact_below)
        return keys, scores


ENGINES.register("faiss", FaissEngine)
