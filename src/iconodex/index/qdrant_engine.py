"""Qdrant as the vector engine: one Qdrant collection, one *named vector* per space (cosine).

Point ids are the collection's integer item keys and points carry no payload: the ``allowed``
filter is a ``HasIdCondition`` over keys, so the SQLite store stays the only home of metadata.

Two ways to reach Qdrant (``engine_options``):

* ``path`` — qdrant-client's embedded *local mode* (default ``<collection>/index/qdrant``):
  no server, exact search in NumPy, one process at a time; meant for tests and small collections.
* ``url`` — a Qdrant server or cluster; the API key comes from ``api_key`` or the ``QDRANT_API_KEY``
  environment variable (the collection records only that a key was given: later runs read the variable).

Adding a space to an existing collection: named vectors are fixed at creation on Qdrant servers
older than 1.16, so :meth:`QdrantEngine.ensure_space` first asks for the new vector name in place
(``create_vector_name``, Qdrant ≥ 1.16 and local mode) and, when that is refused, *migrates*:
copies the points into a scratch collection, recreates the collection with every space known so
far, and copies them back. A crash during a migration loses only derived data: the collection's
``verify_index`` rebuilds any space whose count disagrees with the store.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..fetch.http import mask_url
from . import ENGINES
from .remote import CachedSpaces

try:
    from qdrant_client import QdrantClient, models
    from qdrant_client.http.exceptions import UnexpectedResponse
except ImportError as exc:  # an optional extra: say how to get it instead of a traceback
    raise ConfigError("the qdrant engine needs qdrant-client: pip install 'iconodex[qdrant]'") from exc

log = logging.getLogger(__name__)
DEFAULT_COLLECTION = "iconodex"
WRITE_BATCH = 1024  # points per request: large enough to amortise a round trip, small enough for gRPC limits
SCROLL_BATCH = 1024


class QdrantEngine(CachedSpaces):
    """A :class:`~iconodex.index.base.VectorEngine` over one Qdrant collection."""

    def __init__(self, directory: Path, *, url: str | None = None, path: str | None = None,
                 api_key: str | None = None, collection_name: str = DEFAULT_COLLECTION,
                 prefer_grpc: bool = False, timeout: int | None = None, read_only: bool = False) -> None:
        self.read_only = read_only
        self.name = collection_name
        self.client = _connect(Path(directory), url=url, path=path, api_key=api_key,
                               prefer_grpc=prefer_grpc, timeout=timeout, read_only=read_only)
        self._spaces = None

    # -- spaces -------------------------------------------------------------------------------

    def _read_spaces(self) -> dict[str, int]:
        if not self.client.collection_exists(self.name):
            return {}
        vectors = self.client.get_collection(self.name).config.params.vectors
        if not isinstance(vectors, dict):  # a collection with one unnamed vector was not made by us
            raise ConfigError(f"Qdrant collection {self.name!r} has no named vectors; choose another collection_name")
        return {name: int(params.size) for name, params in vectors.items()}

    def ensure_space(self, space: str, dims: int) -> None:
        known = self._read_spaces()
        if known.get(space) == dims:
            self._spaces = known
            return
        if space in known:
            raise ValueError(f"space {space!r} has {known[space]} dims, not {dims}")
        self._spaces = None
        if not known:
            self.client.create_collection(self.name, vectors_config={space: _params(dims)})
            return
        try:
            config = models.DenseVectorConfig(size=int(dims), distance=models.Distance.COSINE)
            self.client.create_vector_name(self.name, space, models.DenseVectorNameConfig(dense=config))
        except (UnexpectedResponse, AttributeError, NotImplementedError) as exc:  # AttributeError: client < 1.16
            log.info("adding space %s by migration (server refused a new vector name: %s)", space, exc)
            self.migrate({**known, space: dims})

    def migrate(self, spaces: dict[str, int]) -> None:
        """Recreate the collection with ``spaces`` (each name → dims), keeping every stored vector."""
        scratch = f"{self.name}__migrating"
        old = {name: _params(dims) for name, dims in self.spaces().items()}
        if self.client.collection_exists(scratch):
            self.client.delete_collection(scratch)
        self.client.create_collection(scratch, vectors_config=old)
        self._copy(self.name, scratch)
        self.client.delete_collection(self.name)
        self.client.create_collection(self.name, vectors_config={n: _params(d) for n, d in spaces.items()})
        self._copy(scratch, self.name)
        self.client.delete_collection(scratch)
        self._spaces = None

    def _copy(self, source: str, target: str) -> None:
        for points in _scroll(self.client, source, with_vectors=True):
            structs = [models.PointStruct(id=p.id, vector=p.vector or {}, payload={}) for p in points]
            self.client.upsert(target, structs, wait=True)

    # -- writes -------------------------------------------------------------------------------

    def upsert(self, space: str, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Set ``space``'s vector of each key; a point's vectors in other spaces are kept."""
        keys = np.asarray(keys, dtype=np.int64)
        vectors = np.asarray(vectors, dtype=np.float32)
        for start in range(0, len(keys), WRITE_BATCH):
            self._upsert_batch(space, keys[start:start + WRITE_BATCH], vectors[start:start + WRITE_BATCH])

    def _upsert_batch(self, space: str, keys: np.ndarray, vectors: np.ndarray) -> None:
        # A plain upsert replaces the whole point (every space); existing points get only this
        # space's vector updated instead.
        existing = self._existing(keys)
        updates = [models.PointVectors(id=int(k), vector={space: v.tolist()})
                   for k, v in zip(keys, vectors, strict=True) if int(k) in existing]
        inserts = [models.PointStruct(id=int(k), vector={space: v.tolist()}, payload={})
                   for k, v in zip(keys, vectors, strict=True) if int(k) not in existing]
        if updates:
            self.client.update_vectors(self.name, updates, wait=True)
        if inserts:
            self.client.upsert(self.name, inserts, wait=True)

    def _existing(self, keys: np.ndarray) -> set[int]:
        found = self.client.retrieve(self.name, [int(k) for k in keys], with_payload=False, with_vectors=False)
        return {int(point.id) for point in found}

    def delete(self, space: str, keys: np.ndarray) -> None:
        """Drop ``space``'s vector of each key (the point, with any other space, stays)."""
        if len(keys) == 0 or not self._has(space):
            return
        # A filter rather than an id list: unknown keys are then skipped instead of failing the call.
        selector = models.FilterSelector(filter=_with_ids(keys))
        self.client.delete_vectors(self.name, vectors=[space], points=selector, wait=True)

    def reset(self, space: str) -> None:
        """Drop every vector of a space so the collection can rebuild it from the store."""
        if self._has(space):
            self.client.delete_vectors(self.name, vectors=[space], points=models.FilterSelector(
                filter=_has_vector(space)), wait=True)

    def flush(self) -> None:
        """Nothing to do: every write above waits for Qdrant to apply it (local mode saves each one)."""

    # -- reads --------------------------------------------------------------------------------

    def count(self, space: str) -> int:
        if not self._has(space):
            return 0
        return int(self.client.count(self.name, count_filter=_has_vector(space), exact=True).count)

    def get(self, space: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys, out, present = self._get_buffers(space, keys)
        if len(keys) == 0:
            return out, present
        row = {int(k): i for i, k in enumerate(keys)}
        for start in range(0, len(keys), WRITE_BATCH):
            chunk = [int(k) for k in keys[start:start + WRITE_BATCH]]
            for point in self.client.retrieve(self.name, chunk, with_payload=False, with_vectors=[space]):
                vector = (point.vector or {}).get(space)
                if vector is not None:
                    out[row[int(point.id)]] = vector
                    present[row[int(point.id)]] = True
        return out, present

    def search(self, space: str, query: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if k <= 0 or not self._has(space) or (allowed is not None and len(allowed) == 0):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        flt = _with_ids(allowed) if allowed is not None else None
        found = self.client.query_points(self.name, query=_floats(query), using=space, limit=k,
                                         query_filter=flt, with_payload=False).points
        return (np.asarray([int(p.id) for p in found], dtype=np.int64),
                np.asarray([p.score for p in found], dtype=np.float32))

    def search_many(self, space: str, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.asarray(queries, dtype=np.float32)
        keys = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        if len(queries) == 0 or k <= 0 or not self._has(space):
            return keys, scores
        requests = [models.QueryRequest(query=_floats(q), using=space, limit=k, with_payload=False)
                    for q in queries]
        for row, response in enumerate(self.client.query_batch_points(self.name, requests)):
            for col, point in enumerate(response.points[:k]):
                keys[row, col] = int(point.id)
                scores[row, col] = point.score
        return keys, scores

    def close(self) -> None:
        self.client.close()


def _connect(directory: Path, *, url: str | None, path: str | None, api_key: str | None,
             prefer_grpc: bool, timeout: int | None, read_only: bool) -> QdrantClient:
    if url and path:
        raise ConfigError("qdrant engine: give url (a server) or path (local mode), not both")
    if url:
        key = api_key or os.environ.get("QDRANT_API_KEY")
        log.info("qdrant server %s (api key %s)", mask_url(url), "set" if key else "not set")
        try:
            return QdrantClient(url=url, api_key=key, prefer_grpc=prefer_grpc, timeout=timeout)
        except Exception as exc:  # bad URL syntax and friends: one line, key never echoed
            raise ConfigError(f"cannot use Qdrant at {mask_url(url)}: {type(exc).__name__}") from None
    local = Path(path) if path else directory / "qdrant"
    if not read_only:
        local.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(local))
    except RuntimeError as exc:  # local mode locks its folder: one process at a time
        raise ConfigError(f"Qdrant local storage {local} is in use by another process ({exc}); "
                          f"close it, or run a Qdrant server and set engine option url") from None


def _params(dims: int) -> models.VectorParams:
    return models.VectorParams(size=int(dims), distance=models.Distance.COSINE)


def _has_vector(space: str) -> models.Filter:
    return models.Filter(must=[models.HasVectorCondition(has_vector=space)])


def _with_ids(keys: np.ndarray) -> models.Filter:
    return models.Filter(must=[models.HasIdCondition(has_id=[int(k) for k in np.asarray(keys)])])


def _floats(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).reshape(-1).tolist()


def _scroll(client: QdrantClient, name: str, *, with_vectors: bool) -> Iterator[list[Any]]:
    offset = None
    while True:
        points, offset = client.scroll(name, limit=SCROLL_BATCH, offset=offset,
                                       with_payload=False, with_vectors=with_vectors)
        if points:
            yield points
        if offset is None:
            return


ENGINES.register("qdrant", QdrantEngine)
