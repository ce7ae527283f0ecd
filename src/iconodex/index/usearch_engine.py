"""The embedded engine: one USearch HNSW index per space (cosine similarity, measured as the inner
product of unit vectors), persisted next to the SQLite file.

Files, manifest, checks and freshness are ``saved.SavedSpaces``'s: readers open each index as a
memory-mapped view (``Index.restore(view=True)``) and the first write loads it. Small spaces are
searched exactly.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from usearch.index import Index, ScalarKind

from . import ENGINES
from .expansion import Points, search_expansion
from .saved import SavedSpaces
from .usearch_rows import FileRows, file_rows

# The search expansion by the index's size and dtype (``expansion.search_expansion``). Each point is the
# smallest expansion (in steps of 8) with recall@10 ≥ 0.955 — 0.95 and a margin — on clustered 256-d
# vectors at M=16, over every build measured at that size; f16 and i8 with the f32 rescoring of 4×k
# candidates that the searcher does (bench_hnsw.py, 2026-11-25). f32: 20k 0.968, 200k 0.967/0.971, 1M
# 0.961/0.955, 2M 0.957 (where the old fixed 96 gave 0.936; at 200k it walked 1.5× wider than needed);
# built by USearch 2.23 with the inner product, as new indexes are (2026-11-26): 200k 0.970 at 64, 1M
# 0.950 at 80 and 0.955 at 88 (96: 0.961), 2M 0.949 at 128, 0.954 at 144 and 0.958 at 152.
# f16 + rescoring: 0.968, 0.961, 1M 0.964/0.957 (300/500 queries; 80: 0.958/0.951), 2M 0.964 (224: 0.953);
# i8 + rescoring: 0.957, 0.963, 1M 0.959/0.956 (80: 0.951/0.950), 2M 0.962. A search-time setting:
# files saved with any other setting open with it; an explicit ``expansion_search`` option replaces it.
SEARCH_EXPANSIONS: dict[str, Points] = {
    "f32": ((20_000, 56), (200_000, 64), (1_000_000, 96), (2_000_000, 152)),
    "f16": ((20_000, 56), (200_000, 64), (1_000_000, 88), (2_000_000, 256)),
    "i8": ((20_000, 48), (200_000, 56), (1_000_000, 88), (2_000_000, 192)),
}
RULE_OF_DTYPE = defaultdict(lambda: "i8", {ScalarKind.F64: "f32", ScalarKind.F32: "f32", ScalarKind.BF16: "f16",
                                           ScalarKind.F16: "f16"})  # any other kind rounds at least as much as i8
EXACT_BELOW = 20_000  # below this many vectors, exact search is as fast and has perfect recall
BRUTE_FORCE_FILTER = 20_000  # an allowed set this small is scored directly instead of over-fetched
# From this many keys, ``get`` maps a memory-mapped file's rows (``usearch_rows``) and reads them
# directly; below, ``Index.get``'s per-key arrays cost less than mapping the file's keys — until a
# larger read has mapped them, after which every read of that file uses them.
FILE_ROWS_FROM = 256
EXACT_DTYPES = (ScalarKind.F32, ScalarKind.F64)


def metric_for(dtype: str) -> str:
    """Stored vectors are unit length (the engine's contract), so the inner product ranks and scores
    as the cosine does without normalising both sides at every step: walks about 10% faster on
    USearch 2.23 (docs/benchmarks.md, usearch-versions). USearch's i8 inner product is a raw integer
    dot, no similarity, so i8 keeps the cosine. A saved file keeps the metric it was made with."""
    return "cos" if dtype == "i8" else "ip"


class UsearchEngine(SavedSpaces):
    suffix = "usearch"
    library = "USearch"

    def __init__(self, directory: Path, *, dtype: str = "f32", connectivity: int | str = 16,
                 expansion_add: int | str = 128, expansion_search: int | str | None = None,
                 exact_below: int | str = EXACT_BELOW, read_only: bool = False) -> None:
        """``expansion_search``: a fixed search expansion; by default it follows each index's size
        and dtype (``SEARCH_EXPANSIONS``). Options given as text (``--engine-option``) are read as numbers."""
        self.dtype = dtype
        self.params = {"connectivity": int(connectivity), "expansion_add": int(expansion_add)}
        self.expansion_search = int(expansion_search) if expansion_search is not None else None
        self.exact_below = int(exact_below)
        self._rows: dict[str, tuple[Index, FileRows | None]] = {}  # per space: the view they were read for
        super().__init__(directory, read_only=read_only)

    # -- the library's side of the files ------------------------------------------------------

    def _new_index(self, dims: int) -> Index:
        return self._fit(Index(ndim=dims, metric=metric_for(self.dtype), dtype=self.dtype, **self.params))

    def _fit(self, index: Index) -> Index:
        """Set the index's search expansion for its current size (when opened, and after each write,
        so a writer adding a million items searches with the grown value)."""
        if self.expansion_search is not None:
            index.expansion_search = self.expansion_search
        else:  # the file's own dtype counts (an existing collection keeps the one it was saved with)
            index.expansion_search = search_expansion(len(index), SEARCH_EXPANSIONS[RULE_OF_DTYPE[index.dtype]])
        return index

    def expansion(self, space: str) -> int:
        """The expansion a search of ``space`` walks with now."""
        return int(self._index(space).expansion_search)

    def _add(self, index: Index, keys: np.ndarray, vectors: np.ndarray) -> None:
        index.add(np.asarray(keys, dtype=np.uint64), vectors)
        self._fit(index)

    def _size(self, index: Index) -> int:
        return len(index)

    def _read(self, path: Path, *, view: bool) -> tuple[Index | None, int]:
        index = Index.restore(str(path), view=view)
        return (self._fit(index), index.ndim) if index is not None else (None, 0)

    def _write(self, index: Index, path: Path) -> None:
        index.save(str(path))

    def _forget(self, space: str) -> None:
        super()._forget(space)
        self._rows.pop(space, None)

    # -- writes -------------------------------------------------------------------------------

    def _put(self, index: Index, keys: np.ndarray, vectors: np.ndarray) -> None:
        keys = keys.astype(np.uint64)
        present = keys[np.asarray(index.contains(keys), dtype=bool)]
        if len(present):
            index.remove(present)
        index.add(keys, vectors)
        self._fit(index)

    def _remove(self, index: Index, keys: np.ndarray) -> None:
        index.remove(keys.astype(np.uint64))
        self._fit(index)

    # -- reads --------------------------------------------------------------------------------

    def exact_vectors(self, space: str) -> bool:
        """Whether ``get`` returns the vectors as they were added: an f16 or i8 index keeps rounded
        copies (the file's own dtype counts, whatever this engine would make now)."""
        return space not in self._records or self._index(space).dtype in EXACT_DTYPES

    def get(self, space: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = np.asarray(keys, dtype=np.uint64)
        dims = self._records[space].dims
        out = np.zeros((len(keys), dims), dtype=np.float32)
        present = np.zeros(len(keys), dtype=bool)
        if len(keys) == 0:
            return out, present
        index = self._index(space)
        rows = self._file_rows(space, index) if len(keys) >= FILE_ROWS_FROM else self._mapped_rows(space, index)
        if rows is not None:
            return rows.get(keys)
        mask = np.asarray(index.contains(keys), dtype=bool)
        if mask.any():
            fetched = index.get(keys[mask], dtype=np.float32)
            out[mask] = np.asarray(fetched, dtype=np.float32).reshape(-1, dims)
        present[:] = mask
        return out, present

    def warm(self, space: str) -> None:
        """Map ``space``'s file rows now (30–60 ms at 100k), not in the first requests: every later
        read of that file, however small (a ``like``'s item and candidates), then gathers rows
        instead of asking ``Index.get`` key by key."""
        self._file_rows(space, self._index(space))

    def _mapped_rows(self, space: str, index: Index) -> FileRows | None:
        """The file's rows if a larger read already mapped them: mapping costs a pass over the keys
        once, after which a gather beats ``Index.get`` at any size (a like search reads ~80 keys)."""
        cached = self._rows.get(space)
        return cached[1] if cached is not None and cached[0] is index else None

    def _file_rows(self, space: str, index: Index) -> FileRows | None:
        """The rows of the file ``index`` views (None for an index loaded to be written)."""
        with self._lock:
            cached = self._rows.get(space)
            if cached is not None and cached[0] is index:
                return cached[1]
            record = self._records.get(space)
            view = space not in self._writable and record is not None and record.file
            try:
                rows = file_rows(self.directory / str(record.file), index) if view else None
            except (OSError, ValueError):  # replaced meanwhile: Index.get still reads the view
                rows = None
            self._rows[space] = (index, rows)
            return rows

    def search(self, space: str, query: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if space not in self._records or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if allowed is not None:
            return self._search_allowed(space, query, k, np.asarray(allowed, dtype=np.int64))
        return self._search(space, query, k)

    def _search(self, space: str, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        index = self._index(space)
        size = len(index)
        if size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        # One query walks the graph on one thread whatever ``threads`` says; USearch's default (every
        # core) only adds a thread pool's start-up: p50 1.2× faster at 50k × 256 (bench_threads.py).
        matches = index.search(query, min(k, size), exact=size < self.exact_below, threads=1)
        return matches.keys.astype(np.int64), (1.0 - matches.distances).astype(np.float32)

    def _search_allowed(self, space: str, query: np.ndarray, k: int,
                        allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(allowed) <= BRUTE_FORCE_FILTER:
            vectors, present = self.get(space, allowed)
            if not present.all():  # copied only when some allowed keys have no vector
                allowed, vectors = allowed[present], vectors[present]
            scores = vectors @ query
            order = _top(scores, k)
            return allowed[order], scores[order].astype(np.float32)
        # A large allowed set: over-fetch from the ANN index and filter, widening until enough.
        allowed_set = set(allowed.tolist())
        fetch = k * 4
        size = self.count(space)
        while True:
            keys, scores = self._search(space, query, min(fetch, size))
            keep = np.fromiter((key in allowed_set for key in keys.tolist()), dtype=bool, count=len(keys))
            if keep.sum() >= k or fetch >= size:
                return keys[keep][:k], scores[keep][:k]
            fetch *= 4

    def search_many(self, space: str, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        index = self._index(space)
        size = len(index)
        queries = np.asarray(queries, dtype=np.float32)
        keys = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        if size == 0 or len(queries) == 0:
            return keys, scores
        found = index.search(queries, min(k, size), exact=size < self.exact_below)
        # USearch answers a single query with 1-d arrays: shape everything as (queries, width).
        found_keys = np.asarray(found.keys).reshape(len(queries), -1)
        distances = np.asarray(found.distances).reshape(len(queries), -1)
        counts = np.atleast_1d(np.asarray(getattr(found, "counts", found_keys.shape[1])))
        width = found_keys.shape[1]
        valid = np.arange(width)[None, :] < counts[:, None]
        keys[:, :width] = np.where(valid, found_keys.astype(np.int64), -1)
        scores[:, :width] = np.where(valid, 1.0 - distances, 0.0)
        return keys, scores

    def close(self) -> None:
        with self._lock:
            super().close()
            self._rows.clear()



def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best ``scores``, best first, without sorting all of them."""
    if len(scores) > k:
        best = np.argpartition(-scores, k - 1)[:k]
        return best[np.argsort(-scores[best], kind="stable")]
    return np.argsort(-scores, kind="stable")


ENGINES.register("usearch", UsearchEngine)
