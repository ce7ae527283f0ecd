"""What the embedded engines (``usearch``, ``faiss``) share: one index file per space, named in the
manifest (``files.py``), checked before the library reads it, saved atomically, followed across processes.

Readers open each file as a memory-mapped view, so a large collection opens in milliseconds; the
first write turns the view into a loaded, writable index. Every file is checked against the
manifest (size, vector count, checksum) before the library reads it: a damaged one raises
:class:`IndexDamagedError` instead of crashing the process. Each call stats the manifest, so a
reader sees what another process saved at once; inside :meth:`SavedSpaces.reading` (a search's
dozen calls) it is stat'ed once, when the block begins. A subclass says how its library makes,
reads and writes one space's index (the ``_new_index`` … ``_write`` hooks).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import IndexDamagedError
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

FILES_RECHECK_S = 1.0  # how often open files are stat'ed for in-place changes (the manifest: every call)


class SavedSpaces:
    """The files, manifest and freshness of an embedded engine; ``suffix`` names its files."""

    suffix = ""
    library = ""  # named in errors about a file the library refuses

    def __init__(self, directory: Path, *, read_only: bool = False) -> None:
        self.directory = Path(directory)
        self.read_only = read_only
        self._indexes: dict[str, Any] = {}
        self._writable: set[str] = set()
        self._dirty: set[str] = set()
        self._damaged: dict[str, str] = {}
        self._verified: dict[str, tuple] = {}  # file → (checksum, mtime_ns, size) when checked
        self._lock = threading.RLock()
        self._in_reading = threading.local()  # .active: this thread is inside reading()
        if not read_only:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._stamp: tuple = (None, None)  # (manifest stat, open files' stats) when last followed
        self._files_checked = 0.0
        self._records: dict[str, SpaceFile] = {}
        self._refresh()

    # -- what a subclass provides -------------------------------------------------------------

    def _new_index(self, dims: int) -> Any:
        raise NotImplementedError

    def _add(self, index: Any, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add (keys, vectors) to an index being rebuilt (no key is in it yet)."""
        self._put(index, np.asarray(keys, dtype=np.int64), vectors)

    def _size(self, index: Any) -> int:
        """The number of vectors the index answers for."""
        raise NotImplementedError

    def _read(self, path: Path, *, view: bool) -> tuple[Any, int]:
        """(index, dims) read from a checked file; a view is memory-mapped and read-only."""
        raise NotImplementedError

    def _write(self, index: Any, path: Path) -> None:
        raise NotImplementedError

    def _put(self, index: Any, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace (keys, vectors) in a writable index."""
        raise NotImplementedError

    def _remove(self, index: Any, keys: np.ndarray) -> None:
        """Remove ``keys`` (int64) from a writable index; unknown keys are no error."""
        raise NotImplementedError

    def _changing(self) -> AbstractContextManager:
        """Held while an index changes in place (a library unsafe to search meanwhile holds a lock)."""
        return nullcontext()

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
        """(mtime, size) of each memory-mapped file: bytes changed in place must not reach the library."""
        return tuple(self._file_stat(self._records[space].file) for space in sorted(self._indexes)
                     if space not in self._writable and space in self._records and self._records[space].file)

    def _file_stat(self, name: str | None) -> tuple | None:
        try:
            info = os.stat(self.directory / str(name))
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_size

    @contextmanager
    def reading(self) -> Iterator[None]:
        """This thread's calls inside the block see the files as they were when it began: their
        freshness is checked once, not once per call (a search makes a dozen engine calls). A
        file found damaged meanwhile still makes the manifest be read again."""
        if getattr(self._in_reading, "active", False):
            yield
            return
        self._refresh()
        self._in_reading.active = True
        try:
            yield
        finally:
            self._in_reading.active = False

    def _refresh(self, force: bool = False) -> None:
        """Follow the manifest: spaces another process saved are re-opened on next use. One stat
        per call (none inside :meth:`reading`); the open files are stat'ed at most once per
        ``FILES_RECHECK_S``; the manifest is read again only when something changed."""
        if not force and getattr(self._in_reading, "active", False):
            return
        # Stat'ed once, before the manifest is read: one replaced meanwhile shows as a change next time.
        manifest = self._manifest_stamp()
        if not force and manifest == self._stamp[0]:
            if time.monotonic() - self._files_checked < FILES_RECHECK_S:
                return
            self._files_checked = time.monotonic()
            if self._file_stamps() == self._stamp[1]:
                return
        with self._lock:
            if force or manifest != self._stamp[0]:
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
            self._stamp = (manifest, self._file_stamps())

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
        self._writable.discard(space)
        self._damaged.pop(space, None)

    def _index(self, space: str, *, write: bool = False) -> Any:
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

    def _load(self, space: str, *, view: bool) -> Any:
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
            index, dims = self._read(path, view=view)
        except Exception as exc:  # checked bytes the library still refuses: a file this version cannot read
            raise IndexDamagedError(space, f"{self.library} cannot read {record.file} ({exc})") from None
        if index is None or dims != record.dims or self._size(index) != record.count:
            raise IndexDamagedError(space, f"{record.file} does not hold the {record.count} × {record.dims} saved")
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
        with self._lock:
            index = self._index(space, write=True)
            with self._changing():
                self._put(index, np.asarray(keys, dtype=np.int64), np.asarray(vectors, dtype=np.float32))
            self._dirty.add(space)

    def delete(self, space: str, keys: np.ndarray) -> None:
        if len(keys) == 0 or space not in self._records:
            return
        with self._lock:
            index = self._index(space, write=True)
            with self._changing():
                self._remove(index, np.asarray(keys, dtype=np.int64))
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
        self._write(index, tmp)
        checksum = file_checksum(tmp)  # of the bytes on disk, the ones a reader will check
        name = saved_name(space, checksum, self.suffix)
        os.replace(tmp, self.directory / name)
        old = self._records[space].file
        self._records[space] = SpaceFile(self._records[space].dims, name, (self.directory / name).stat().st_size,
                                         self._size(index), checksum)
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
                self._add(index, keys, np.asarray(vectors, dtype=np.float32))
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
        return self._size(self._index(space)) if space in self._records else 0

    def spaces(self) -> dict[str, int]:
        self._refresh()
        return self._dims

    def memory_bytes(self) -> int:
        return sum(record.size for record in self._records.values())

    def close(self) -> None:
        with self._lock:
            self._indexes.clear()
            self._writable.clear()
