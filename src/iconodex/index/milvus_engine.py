"""Milvus as the vector engine: one Milvus collection per space, named ``<collection_name>__<space>``.

Each Milvus collection has two fields, the item key (``id``, INT64 primary key) and its vector
(``vector``, cosine HNSW), and no payload: the ``allowed`` filter is an ``id in [...]`` expression
pushed down to Milvus, so the SQLite store stays the only home of metadata.

Two ways to reach Milvus (``engine_options``):

* ``uri`` — a Milvus server (``http://HOST:19530``), with ``database`` and a ``token`` (``user:password``
  or an API key, or the ``MILVUS_TOKEN`` environment variable; the collection records only that a
  token was given, so later runs take it from the environment).
* no ``uri`` — Milvus Lite, pymilvus's embedded mode, in ``<collection>/index/milvus.db``: no server,
  one process at a time; meant for tests and small collections.

Collections are created with *Session* consistency: a process reads its own writes at once (an ingest,
a test), while a search server that writes nothing searches without waiting for Milvus's time tick
(*Strong* costs about 200 ms a search) and sees another process's new items a moment later. Counts, which
decide whether an index needs rebuilding, are always *Strong*. A write that Milvus acknowledged is durable (Milvus logs it before answering), so :meth:`flush` has
nothing to do; after a crash the collection's ``verify_index`` and idempotent upserts by key finish the job.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..errors import ConfigError, IndexEngineError
from ..fetch.http import mask_url
from . import ENGINES
from .remote import CachedSpaces

try:
    from pymilvus import DataType, MilvusClient, MilvusException
except ImportError as exc:  # an optional extra: say how to get it instead of a traceback
    raise ConfigError("the milvus engine needs pymilvus: pip install 'iconodex[milvus]'") from exc

log = logging.getLogger(__name__)
# pymilvus logs every failed call with a traceback on its own stderr handler; the engine raises the
# same failure as one line instead, so its records go through iconodex's logging at debug only.
_pymilvus_log = logging.getLogger("pymilvus")
_pymilvus_log.handlers.clear()
_pymilvus_log.propagate = True
_pymilvus_log.setLevel(logging.CRITICAL)

T = TypeVar("T")
DEFAULT_COLLECTION = "iconodex"
KEY, VECTOR = "id", "vector"
WRITE_BATCH = 1024  # rows per request: amortises a round trip, stays far below gRPC's message limit
READ_BATCH = 1024  # keys per get: well under Milvus's 16,384-row query window
FILTER_CHUNK = 16_384  # allowed keys per "id in [...]" expression; larger sets are searched in chunks
MAX_TOPK = 16_384  # Milvus refuses a larger limit
NOT_LOADED = 101  # Milvus's code for "collection not loaded" (after a server restart, until it reloads)
LOAD_TIMEOUT = 300.0  # reloading a collection after a restart takes tens of seconds
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
_ENCODED = re.compile(r"(?:[A-Za-z0-9]|_[0-9a-f]{2})+")


class MilvusEngine(CachedSpaces):
    """A :class:`~iconodex.index.base.VectorEngine` over one Milvus collection per space."""

    def __init__(self, directory: Path, *, uri: str | None = None, token: str | None = None,
                 database: str | None = None, collection_name: str = DEFAULT_COLLECTION,
                 connectivity: int | str = 16, expansion_add: int | str = 128,
                 expansion_search: int | str = 128, timeout: float | str = 30.0,
                 read_only: bool = False) -> None:
        if not _NAME.fullmatch(collection_name):
            raise ConfigError(f"milvus engine: collection_name {collection_name!r} must be letters, digits and "
                              f"underscores, starting with a letter or underscore")
        self.prefix = f"{collection_name}__"
        self.read_only = read_only
        self.timeout = float(timeout)
        self.index_params = {"M": int(connectivity), "efConstruction": int(expansion_add)}
        self.ef = int(expansion_search)
        self.uri, self.client = _connect(Path(directory), uri=uri, token=token, database=database,
                                         timeout=self.timeout, read_only=read_only)
        self._spaces = None

    # -- calls --------------------------------------------------------------------------------

    def _call(self, what: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One Milvus call; a refused or lost connection becomes one line naming the server."""
        try:
            return what(*args, timeout=self.timeout, **kwargs)
        except MilvusException as exc:
            if exc.code != NOT_LOADED or not args:
                raise self._error(exc) from None
        self._load(args[0])  # the server restarted and has not reloaded this collection yet
        try:
            return what(*args, timeout=self.timeout, **kwargs)
        except MilvusException as exc:
            raise self._error(exc) from None

    def _load(self, name: str) -> None:
        log.info("loading Milvus collection %s (not loaded, e.g. after a server restart)", name)
        try:
            self.client.load_collection(name, timeout=max(self.timeout, LOAD_TIMEOUT))
        except MilvusException as exc:
            raise self._error(exc) from None

    def _error(self, exc: MilvusException) -> IndexEngineError:
        log.debug("milvus call failed", exc_info=exc)
        return IndexEngineError(f"Milvus at {mask_url(self.uri)}: {exc.message or type(exc).__name__} "
                                f"(code {exc.code}); check that the server is running and reachable, then rerun")

    # -- spaces -------------------------------------------------------------------------------

    def _name(self, space: str) -> str:
        return self.prefix + _encode(space)

    def _read_spaces(self) -> dict[str, int]:
        found = {}
        for name in self._call(self.client.list_collections):
            space = _decode(name[len(self.prefix):]) if name.startswith(self.prefix) else None
            if space is not None:
                found[space] = self._dims(name)
        return found

    def _dims(self, name: str) -> int:
        fields = self._call(self.client.describe_collection, name)["fields"]
        vector = next((f for f in fields if f["name"] == VECTOR), None)
        if vector is None:  # same prefix, not made by us
            raise ConfigError(f"Milvus collection {name!r} has no {VECTOR!r} field; choose another collection_name")
        return int(vector["params"]["dim"])

    def ensure_space(self, space: str, dims: int) -> None:
        known = self._read_spaces()
        self._spaces = known
        if known.get(space) == dims:
            return
        if space in known:
            raise ValueError(f"space {space!r} has {known[space]} dims, not {dims}")
        self._create(space, dims)
        self._spaces = None

    def _create(self, space: str, dims: int) -> None:
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(KEY, DataType.INT64, is_primary=True)
        schema.add_field(VECTOR, DataType.FLOAT_VECTOR, dim=int(dims))
        index = self.client.prepare_index_params()
        index.add_index(field_name=VECTOR, index_type="HNSW", metric_type="COSINE", params=self.index_params)
        self._call(self.client.create_collection, self._name(space), schema=schema, index_params=index,
                   consistency_level="Session")

    # -- writes -------------------------------------------------------------------------------

    def upsert(self, space: str, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Insert or replace by key (the last of repeated keys wins)."""
        keys = np.asarray(keys, dtype=np.int64)
        vectors = np.asarray(vectors, dtype=np.float32)
        last = len(keys) - 1 - np.unique(keys[::-1], return_index=True)[1]  # Milvus would keep both
        keys, vectors = keys[last], vectors[last]
        name = self._name(space)
        for start, stop in _ranges(len(keys), WRITE_BATCH):
            rows = [{KEY: int(k), VECTOR: v} for k, v in zip(keys[start:stop].tolist(),
                                                             vectors[start:stop].tolist(), strict=True)]
            self._call(self.client.upsert, name, rows)

    def delete(self, space: str, keys: np.ndarray) -> None:
        if len(keys) == 0 or not self._has(space):
            return
        ids = np.asarray(keys, dtype=np.int64).tolist()
        for start, stop in _ranges(len(ids), FILTER_CHUNK):
            self._call(self.client.delete, self._name(space), filter=_key_in(ids[start:stop]))

    def reset(self, space: str) -> None:
        """Empty a space (drop and recreate its collection) so it can be rebuilt from the store."""
        if self._has(space):
            dims = self.spaces()[space]
            self._call(self.client.drop_collection, self._name(space))
            self._create(space, dims)

    def flush(self) -> None:
        """Nothing to do: Milvus logs every acknowledged write before answering."""

    # -- reads --------------------------------------------------------------------------------

    def count(self, space: str) -> int:
        if not self._has(space):
            return 0
        rows = self._call(self.client.query, self._name(space), filter="", output_fields=["count(*)"],
                          consistency_level="Strong")
        return int(rows[0]["count(*)"])

    def get(self, space: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys, out, present = self._get_buffers(space, keys)
        row = {k: i for i, k in enumerate(keys.tolist())}
        for start, stop in _ranges(len(keys), READ_BATCH):
            for found in self._call(self.client.get, self._name(space), ids=keys[start:stop].tolist(),
                                    output_fields=[VECTOR]):
                out[row[int(found[KEY])]] = found[VECTOR]
                present[row[int(found[KEY])]] = True
        return out, present

    def search(self, space: str, query: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if k <= 0 or not self._has(space) or (allowed is not None and len(allowed) == 0):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        query = np.asarray(query, dtype=np.float32).reshape(1, -1)
        if allowed is None:
            keys, scores = self._search(space, query, k)
            return _trim(keys[0], scores[0])
        ids = np.unique(np.asarray(allowed, dtype=np.int64)).tolist()
        parts = [self._search(space, query, k, _key_in(ids[start:stop])) for start, stop in
                 _ranges(len(ids), FILTER_CHUNK)]
        keys = np.concatenate([p[0][0] for p in parts])
        scores = np.concatenate([p[1][0] for p in parts])
        order = np.argsort(-scores, kind="stable")[:k]  # each chunk's best, merged
        return _trim(keys[order], scores[order])

    def search_many(self, space: str, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.asarray(queries, dtype=np.float32)
        if len(queries) == 0 or k <= 0 or not self._has(space):
            return np.full((len(queries), max(k, 0)), -1, dtype=np.int64), np.zeros((len(queries), max(k, 0)),
                                                                                     dtype=np.float32)
        parts = [self._search(space, queries[start:stop], k) for start, stop in _ranges(len(queries), WRITE_BATCH)]
        return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])

    def _search(self, space: str, queries: np.ndarray, k: int,
                expression: str = "") -> tuple[np.ndarray, np.ndarray]:
        """(n, k) keys and similarities, missing slots -1 and 0."""
        limit = min(k, MAX_TOPK)
        found = self._call(self.client.search, self._name(space), data=queries.tolist(), limit=limit,
                           filter=expression, output_fields=[], anns_field=VECTOR,
                           search_params={"metric_type": "COSINE", "params": {"ef": max(self.ef, limit)}})
        keys = np.full((len(queries), k), -1, dtype=np.int64)
        scores = np.zeros((len(queries), k), dtype=np.float32)
        for row, hits in enumerate(found):
            for col, hit in enumerate(hits):
                keys[row, col] = int(hit[KEY])
                scores[row, col] = hit["distance"]
        return keys, scores

    def close(self) -> None:
        self.client.close()


def _connect(directory: Path, *, uri: str | None, token: str | None, database: str | None,
             timeout: float, read_only: bool) -> tuple[str, MilvusClient]:
    options: dict[str, Any] = {"timeout": timeout}
    if uri:
        token = token or os.environ.get("MILVUS_TOKEN")
        if token:
            options["token"] = token
        if database:
            options["db_name"] = database
        log.info("milvus server %s database %s (token %s)", mask_url(uri), database or "default",
                 "set" if token else "not set")
    else:
        if database:
            raise ConfigError("milvus engine: database needs a server (engine option uri)")
        if not read_only:
            directory.mkdir(parents=True, exist_ok=True)
        uri = str(directory / "milvus.db")
    try:
        return uri, MilvusClient(uri=uri, **options)
    except MilvusException as exc:  # the token is never echoed: only the masked URI and Milvus's reason
        raise IndexEngineError(f"cannot reach Milvus at {mask_url(uri)}: {exc.message}; check that the server "
                               f"is running and the uri, token and database are right") from None
    except Exception as exc:  # Milvus Lite missing or its file locked by another process
        raise ConfigError(f"cannot open Milvus at {mask_url(uri)}: {type(exc).__name__}: {exc}; "
                          f"for a local file, install milvus-lite and close other processes using it, "
                          f"or run a Milvus server and set engine option uri") from None


def _encode(space: str) -> str:
    """A space name as Milvus collection-name characters, reversibly (``_`` and others as ``_xx``)."""
    return "".join(c if c.isascii() and c.isalnum() else "".join(f"_{b:02x}" for b in c.encode()) for c in space)


def _decode(encoded: str) -> str | None:
    """The space name of :func:`_encode`'s output; None for anything it cannot have made."""
    if not _ENCODED.fullmatch(encoded):
        return None
    raw = re.sub(rb"_([0-9a-f]{2})", lambda m: bytes([int(m.group(1), 16)]), encoded.encode())
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def _key_in(keys: list[int]) -> str:
    return f"{KEY} in [{','.join(map(str, keys))}]"


def _ranges(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(start + size, total)


def _trim(keys: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the -1 padding of missing slots."""
    found = keys >= 0
    return keys[found], scores[found]


ENGINES.register("milvus", MilvusEngine)
