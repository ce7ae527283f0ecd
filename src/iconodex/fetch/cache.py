"""An on-disk cache of fetched bytes, keyed by URL, bounded in size, safe for threads and crashes.

Each entry is two files named by the SHA-256 of the URL: ``<key>.bin`` (the body) and
``<key>.json`` (URL, ETag, Last-Modified). Writes go to a temporary file first and are renamed
into place, so a killed run never leaves a half-written body that looks valid. A hit refreshes
the body's mtime (atime is often disabled), and eviction drops the least recently used entries
once the cache grows past ``max_bytes``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 2 * 1024**3


@dataclass(frozen=True, slots=True)
class CacheEntry:
    url: str
    data: bytes
    etag: str | None = None
    last_modified: str | None = None

    def validators(self) -> dict[str, str]:
        """Headers for a conditional GET; empty when the server gave nothing to revalidate with."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class Cache:
    """Bytes by URL under ``root``; ``max_bytes`` bounds the total size of the bodies."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._size: int | None = None  # total body bytes, computed on first write

    def get(self, url: str) -> CacheEntry | None:
        """The cached entry for ``url``, or None (a damaged entry counts as a miss)."""
        body, meta = self._paths(url)
        try:
            data = body.read_bytes()
            info = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if info.get("url") != url:  # a hash collision or a foreign file
            return None
        self._touch(body)
        return CacheEntry(url, data, info.get("etag"), info.get("last_modified"))

    def put(self, url: str, data: bytes, *, etag: str | None = None, last_modified: str | None = None) -> None:
        """Store ``data`` for ``url`` atomically, then evict old entries if over budget."""
        body, meta = self._paths(url)
        body.parent.mkdir(parents=True, exist_ok=True)
        previous = _size_of(body)
        _atomic_write(meta, json.dumps({"url": url, "etag": etag, "last_modified": last_modified}).encode())
        _atomic_write(body, data)
        with self._lock:
            if self._size is None:
                self._size = self._scan_size()
            else:
                self._size += len(data) - previous
            if self._size > self.max_bytes:
                self._evict()

    def refresh(self, url: str) -> None:
        """Mark an entry as recently used (after a 304 revalidation)."""
        self._touch(self._paths(url)[0])

    def _paths(self, url: str) -> tuple[Path, Path]:
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()
        folder = self.root / key[:2]
        return folder / f"{key}.bin", folder / f"{key}.json"

    def _bodies(self) -> list[Path]:
        return list(self.root.glob("*/*.bin"))

    def _scan_size(self) -> int:
        return sum(_size_of(path) for path in self._bodies())

    def _evict(self) -> None:
        """Drop least-recently-used bodies until the cache is at 90 % of its budget."""
        target = int(self.max_bytes * 0.9)
        entries = sorted(self._bodies(), key=_mtime)
        for body in entries:
            if self._size is not None and self._size <= target:
                break
            size = _size_of(body)
            for path in (body, body.with_suffix(".json")):
                path.unlink(missing_ok=True)
            self._size = (self._size or 0) - size
            log.debug("cache evicted %s (%d bytes)", body.name, size)

    @staticmethod
    def _touch(path: Path) -> None:
        with contextlib.suppress(OSError):
            os.utime(path)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
