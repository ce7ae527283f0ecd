"""What the engines backed by a server (Qdrant, Milvus) share."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class CachedSpaces:
    """The spaces (name → dims) as read from the server, cached: every search needs them and
    reading them is a round trip. A space missing from the cache is looked up again once, since
    another process may have added it."""

    _spaces: dict[str, int] | None = None

    def _read_spaces(self) -> dict[str, int]:
        raise NotImplementedError

    def spaces(self) -> dict[str, int]:
        if self._spaces is None:
            self._spaces = self._read_spaces()
        return dict(self._spaces)

    def _has(self, space: str) -> bool:
        if space not in self.spaces():
            self._spaces = None
        return space in self.spaces()

    def _get_buffers(self, space: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What ``get`` fills: (keys as int64, zero vectors, an all-False present mask)."""
        if not self._has(space):
            raise KeyError(space)
        keys = np.asarray(keys, dtype=np.int64)
        return keys, np.zeros((len(keys), self.spaces()[space]), dtype=np.float32), np.zeros(len(keys), dtype=bool)

    def rebuild(self, space: str, dims: int, batches: Iterable[tuple[np.ndarray, np.ndarray]], *,
                save: bool = True) -> None:
        """A server keeps its own data safe: drop the space's vectors and upload the store's again
        (``save`` is moot: the server persists every write)."""
        self.ensure_space(space, dims)
        self.reset(space)
        for keys, vectors in batches:
            self.upsert(space, keys, vectors)
