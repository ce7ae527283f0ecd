"""Synthetic collections for the benchmarks: made-up records with random unit vectors, written
through the store and engine APIs (embedding 100k pictures would time the model, not the subject)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from iconodex import Collection
from iconodex.records import SourceRecord


def unit(rng: np.random.Generator, rows: int, dims: int) -> np.ndarray:
    vectors = rng.standard_normal((rows, dims), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def clustered(clusters: int, spread: float = 0.6) -> Callable[[np.random.Generator, int, int], np.ndarray]:
    """Vectors around ``clusters`` random centres (cos ≈ 0.85 to their centre at the default
    spread), closer to real embeddings than isotropic noise, on which no graph index does well."""
    centres: dict[int, np.ndarray] = {}

    def make(rng: np.random.Generator, rows: int, dims: int) -> np.ndarray:
        if dims not in centres:
            centres[dims] = unit(np.random.default_rng(dims), clusters, dims)
        noise = rng.standard_normal((rows, dims), dtype=np.float32) * (spread / np.sqrt(dims))
        vectors = centres[dims][rng.integers(0, clusters, rows)] + noise
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return make


def build_synthetic(path: Path, n: int, record: Callable[[int], SourceRecord], *,
                    spaces: Iterable[str] | None = None, chunk: int = 10_000, seed: int = 0,
                    make_vectors: Callable[[np.random.Generator, int, int], np.ndarray] = unit,
                    **create: Any) -> float:
    """Write ``n`` indexed items (``record(i)`` each) with ``make_vectors(rng, rows, dims)`` (default:
    isotropic random unit vectors) in ``spaces`` (default: every space of the offline model), in a
    collection made with the ``create`` options of :meth:`Collection.create`; returns the seconds taken."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    with Collection.create(path, **create) as coll:
        dims = {space: coll.model.spaces[space] for space in (spaces or coll.model.spaces)}
        run, _ = coll.store.begin_run("synthetic", "synthetic", "synthetic", {})
        for first in range(0, n, chunk):
            records = [record(i) for i in range(first, min(first + chunk, n))]
            coll.store.upsert_records(records, "synthetic", run)
            found = coll.store.keys_for_ids([r.id for r in records])
            keys = [found[r.id] for r in records]  # records' order: vector row i belongs to record i
            vectors = {space: dict(zip(keys, make_vectors(rng, len(keys), d), strict=True)) for space, d in dims.items()}
            coll.commit_chunk(vectors, keys, {}, {}, [])
            coll.index_keys(keys)
            coll.store.mark_indexed(keys)
            print(f"  {first + len(records):,} items ({time.perf_counter() - started:.0f} s)", flush=True)
        coll.engine.flush()
    return time.perf_counter() - started
