"""Filling an engine from the store's vectors, without re-embedding: how ``iconodex reindex`` moves a
collection from one engine to another (the store holds every vector; the engine only an index)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np

from ..progress import Stages
from ..store import ItemStore
from .base import VectorEngine


def copy_store(store: ItemStore, target: VectorEngine, progress: Stages | None = None) -> dict[str, int]:
    """Every space of ``store`` into ``target``, made durable; the vectors copied per space (a bar
    each on ``progress``). On any failure ``target`` is closed and the error raised: the collection
    keeps its old engine."""
    counts: dict[str, int] = {}
    progress = progress or Stages(None)
    try:
        for space in store.vector_dims():
            progress.start(space, total=store.vector_counts(space)[1])
            counts[space] = copy_space(store, space, target, lambda n, space=space: progress.advance(space, n))
            progress.finish(space)
        target.flush()
    except BaseException:
        target.close()
        raise
    return counts


def copy_space(store: ItemStore, space: str, target: VectorEngine,
               advance: Callable[[int], None] = lambda n: None) -> int:
    """Fill ``space`` of ``target`` with the store's vectors, replacing what it held: those of indexed
    items, and those of items embedded but not yet indexed (the next ingest marks them indexed)."""
    copied = 0
    for keys, vectors in itertools.chain(store.iter_vectors(space), _embedded_vectors(store, space)):
        if not copied:
            if space in target.spaces():
                target.reset(space)  # a stale index from an earlier stay on this engine
            target.ensure_space(space, vectors.shape[1])
        target.upsert(space, keys, vectors)
        copied += len(keys)
        advance(len(keys))
    return copied


def _embedded_vectors(store: ItemStore, space: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    last = 0
    while keys := store.embedded_keys(4096, after_key=last):
        last = keys[-1]
        found, vectors = store.vectors_for(space, keys)
        if len(found):
            yield found, vectors
