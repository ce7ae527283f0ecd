"""The embedded engine: one USearch HNSW index (cosine) per space, persisted next to the SQLite file.

Readers open each index as a memory-mapped view, so a large collection opens in milliseconds;
the first write turns the view into a loaded, writable index. Small spaces are searched exactly.

Every file is checked against the manifest (size, vector count, checksum; see ``files.py``)
before USearch reads it; a damaged one raises :class:`IndexDamagedError` instead of crashing the
process. Each call stats the manifest, so a reader sees what another process saved at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from usearch.index import Index, ScalarKind

from ..errors import IndexDamagedError
from . import ENGINES
from .files import (
    MANIFEST,
    Manifest,
    SpaceFile,
    file_checksum,
    file_damage,
    read_manifest,
    saved_name,
    write_manifest,
)
from .usearch_rows import FileRows, file_rows

# Search-time expansion 96, the smallest measured with recall@10 ≥ 0.95 on 1M × 256 clustered vectors at
# M=16: 0.980 at p50 0.80 ms against 0.996 at 0.93 ms for 128 (64 gives 0.933); docs/benchmarks.md, hnsw-1m.
# It is a search-time setting: files saved with any other setting open with it.
SEARCH_EXPANSION = 96
EXACT_BELOW = 20_000  # below this many vectors, exact search is as fast and has perfect recall
BRUTE_FORCE_FILTER = 20_000  # an allowed set this small is scored directly instead of over-fetched
# From this many keys, ``get`` maps a memory-mapped file's rows (``usearch_rows``) and reads them
# directly; below, ``Index.get``'s per-key arrays cost less than mapping the file's keys — until a
# larger read has mapped them, after which every read of that file uses them.
FILE_ROWS_FROM = 256
EXACT_DTYPES = (ScalarKind.F32, ScalarKind.F64)
FILES_RECHECK_S = 1.0  # how often open files are stat'ed for in-place changes (the manifest: every call)


class UsearchEngine:
    def __init__(self, directory: Path, *, dtype: str = "f32", connectivity: int = 16,
                 expansion_add: int = 128, expansion_search: int = SEARCH_EXPANSION, exact_below: int = EXACT_BELOW,
                 read_only: bool = False) -> None:
        self.directory = Path(directory)
        self.read_only = read_only
        self.dtype = dtype
        self.params = {"connectivity": connectivity, "expansion_add": expansion_add,
                       "expansion_search": expansion_search}
        self.exact_below = exact_below
        self._indexes: dict[str, Index] = {}
        self._writable: set[str] = set()
        self._dirty: set[str] = set()
        self._damaged: dict[str, str] = {}
        self._verified: dict[str, tuple] = {}  # file → (checksum, mtime_ns, size) when checked
        self._lock = threading.RLock()
        if not read_only:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._stamp: tuple = (None, None)  # (manifest stat, open files' stats) when last followed
        self._files_checked = 0.0
        self._records: dict[str, SpaceFile] = {}
        self._rows: dict[str, tuple[Index, FileRows | None]] = {}  # per space: the view they were read for
        self._refresh()

    # -- files --------------------------------------------------------------------------------

    @property
    def _dims(self) -> dict[str, int]:
        return {space: record.dims for space, record in self._records.items()}

    def _manifest_stamp(self) -> tuple | None:
        try:
            info = os.stat(self.directory / MANIFEST)
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size

    def _file_stamps(self) -> tuple:
        """(mtime, size) of each memory-mapped file: bytes changed in place must not reach USearch."""
        return tuple(self._file_stat(self._records[space].file) for space in sorted(self._indexes)
                     if space not in self._writable and space in self._records and self._records[space].file)

    def _file_stat(self, name: str | None) -> tuple | None:
        try:
            info = os.stat(self.directory / str(name))
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_size

    def _refresh(self, force: bool = False) -> None:
        """Follow the manifest: spaces another process saved are re-opened on next use. One stat
        per call; the open files are stat'ed at most once per ``FILES_RECHECK_S``; the manifest is
        read again only when something changed."""
        if not force and self._manifest_stamp() == self._stamp[0]:
            if time.monotonic() - self._files_checked < FILES_RECHECK_S:
                return
            self._files_checked = time.monotonic()
            if self._file_stamps() == self._stamp[1]:
                return
        with self._lock:
            if force or self._manifest_stamp() != self._stamp[0]:
                records = dict(read_manifest(self.directory).spaces)
            else:  # only an open file changed: keep spaces rebuilt in memory by a read-only process
                records = dict(self._records)
            for space, record in self._records.items():
                if space in self._dirty:
                    records[space] = record  # changed here and not saved yet: ours wins
                elif records.get(space) != record or not self._unchanged(record):
                    self._forget(space)
            self._records = records
            self._damaged = {space: why for space, why in self._damaged.items() if space in records}
            self._stamp = (self._manifest_stamp(), self._file_stamps())

    def _unchanged(self, record: SpaceFile) -> bool:
        """Whether a file still has the (mtime, size) it had when its checksum was checked."""
        if not record.file or record.file not in self._verified:
            return True
        if self._verified[record.file][1:] == self._file_stat(record.file):
            return True
        del self._verified[record.file]  # changed in place: check its bytes again before any use
        return False

    def _forget(self, space: str) -> None:
        self._indexes.pop(space, None)
        self._rows.pop(space, None)
        self._writable.discard(space)
        self._damaged.pop(space, None)

    def _new_index(self, dims: int) -> Index:
        return Index(ndim=dims, metric="cos", dtype=self.dtype, **self.params)

    def _index(self, space: str, *, write: bool = False) -> Index:
        self._refresh()
        with self._lock:
            if space not in self._records:
                raise KeyError(space)
            if space in self._damaged:
                raise IndexDamagedError(space, self._damaged[space])
            if space in self._indexes and (space in self._writable or not write):
                return self._indexes[space]
            record = self._records[space]
            try:
                index = self._load(space, view=not write)
            except IndexDamagedError as exc:
                self._refresh(force=True)  # another process may have replaced the file just now
                if self._records.get(space) != record:
                    return self._index(space, write=write)
                self._damaged[space] = exc.reason
                raise
            self._indexes[space] = index
            if write:
                self._writable.add(space)
            return index

    def _load(self, space: str, *, view: bool) -> Index:
        record = self._records[space]
        if not record.file:
            return self._new_index(record.dims)
        path = self.directory / record.file
        if self._verified.get(record.file, (None,))[0] != record.checksum or not self._unchanged(record):
            reason = file_damage(path, record)
            if reason:
                raise IndexDamagedError(space, reason)
            self._verified[record.file] = (record.checksum, *(self._file_stat(record.file) or (0, 0)))
        try:
            index = Index.restore(str(path), view=view)
        except Exception as exc:  # checked bytes USearch still refuses: a file this version cannot read
            raise IndexDamagedError(space, f"USearch cannot read {record.file} ({exc})") from None
        if index is None or index.ndim != record.dims or len(index) != record.count:
            raise IndexDamagedError(space, f"{record.file} does not hold the {record.count} × {record.dims} saved")
        index.expansion_search = self.params["expansion_search"]
        return index

    # -- writes -------------------------------------------------------------------------------

    def ensure_space(self, space: str, dims: int) -> None:
        self._refresh()
        with self._lock:
            if space in self._records and self._records[space].dims == dims:
                return
            if space in self._records:
                raise ValueError(f"space {space!r} has {self._records[space].dims} dims, not {dims}")
            self._records[space] = SpaceFile(dims)
            self._save_manifest({space})

    def upsert(self, space: str, keys: np.ndarray, vectors: np.ndarray) -> None:
        if len(keys) == 0:
            return
        keys = np.asarray(keys, dtype=np.uint64)
        with self._lock:
            index = self._index(space, write=True)
            present = keys[np.asarray(index.contains(keys), dtype=bool)]
            if len(present):
                index.remove(present)
            index.add(keys, np.asarray(vectors, dtype=np.float32))
            self._dirty.add(space)

    def delete(self, space: str, keys: np.ndarray) -> None:
        if len(keys) == 0 or space not in self._records:
            return
        with self._lock:
            index = self._index(space, write=True)
            index.remove(np.asarray(keys, dtype=np.uint64))
            self._dirty.add(space)

    def flush(self) -> None:
        """Save each changed space to a new file named by its checksum, then the manifest that
        names it (an atomic rename), then delete the file it replaced."""
        with self._lock:
            if not self._dirty:
                return
            replaced = [self._save_space(space) for space in sorted(self._dirty)]
            self._save_manifest(set(self._dirty))
            self._dirty.clear()
            for name in replaced:
                if name and name not in {record.file for record in self._records.values()}:
                    (self.directory / name).unlink(missing_ok=True)

    def _save_space(self, space: str) -> str | None:
        """Write ``space`` to its new file; returns the name of the file it replaces."""
        index = self._indexes[space]
        tmp = self.directory / f"{space}.{os.getpid()}.tmp"
        index.save(str(tmp))
        checksum = file_checksum(tmp)  # of the bytes on disk, the ones a reader will check
        name = saved_name(space, checksum)
        os.replace(tmp, self.directory / name)
        old = self._records[space].file
        self._records[space] = SpaceFile(self._records[space].dims, name, (self.directory / name).stat().st_size,
                                         len(index), checksum)
        self._verified[name] = (checksum, *(self._file_stat(name) or (0, 0)))
        return old if old != name else None

    def _save_manifest(self, changed: set[str]) -> None:
        """Write the manifest: ``changed`` spaces as this process has them, the rest as on disk
        (another process may have saved them meanwhile)."""
        on_disk = read_manifest(self.directory)
        records = {**self._records, **on_disk.spaces, **{space: self._records[space] for space in changed}}
        write_manifest(self.directory, Manifest(on_disk.generation + 1, records))
        for space in set(self._records) - changed:
            if records.get(space) != self._records[space]:
                self._forget(space)  # saved by another process: reopen that file on next use
        self._records = records
        self._stamp = (self._manifest_stamp(), self._file_stamps())

    def rebuild(self, space: str, dims: int, batches: Iterable[tuple[np.ndarray, np.ndarray]], *,
                save: bool = True) -> None:
        """Replace ``space``'s index by one built from ``batches`` of (keys, vectors), without
        reading its file. Until it is swapped in, searches keep the old state (or fail over)."""
        with self._lock:
            before = self._records.get(space)
        if before is not None and before.dims != dims:
            raise ValueError(f"space {space!r} has {before.dims} dims, not {dims}")
        index = self._new_index(dims)
        for keys, vectors in batches:
            if len(keys):
                index.add(np.asarray(keys, dtype=np.uint64), np.asarray(vectors, dtype=np.float32))
        with self._lock:
            if self._records.get(space) != before:  # another process saved it meanwhile: use that
                self._forget(space)
                return
            self._records[space] = before or SpaceFile(dims)
            self._indexes[space] = index
            self._writable.add(space)
            self._damaged.pop(space, None)
            if save:
                self._dirty.add(space)
                self.flush()

    def reset(self, space: str) -> None:
        """Empty a space (saved at the next flush) so it can be filled again from the store."""
        with self._lock:
            if space in self._records:
                self._indexes[space] = self._new_index(self._records[space].dims)
                self._writable.add(space)
                self._damaged.pop(space, None)
                self._dirty.add(space)

    def damage(self) -> dict[str, str]:
        """Spaces found damaged so far, with the reason (a space is checked when first used)."""
        return dict(self._damaged)

    # -- reads --------------------------------------------------------------------------------

    def count(self, space: str) -> int:
        return len(self._index(space)) if space in self._records else 0

    def spaces(self) -> dict[str, int]:
        self._refresh()
        return self._dims

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

    def memory_bytes(self) -> int:
        return sum(record.size for record in self._records.values())

    def close(self) -> None:
        with self._lock:
            self._indexes.clear()
            self._rows.clear()
            self._writable.clear()


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` best ``scores``, best first, without sorting all of them."""
    if len(scores) > k:
        best = np.argpartition(-scores, k - 1)[:k]
        return best[np.argsort(-scores[best], kind="stable")]
    return np.argsort(-scores, kind="stable")


ENGINES.register("usearch", UsearchEngine)
