"""Near-duplicate pictures: copies, re-encodes, resizes, small crops (perceptual hash) and
re-photographs (distance in the visual embedding space), grouped by union-find.

Neither leg compares all pairs: each item asks an index for its few nearest neighbours (USearch
over 64-bit hashes with the Hamming metric; the collection's ANN engine for vectors), so the
cost grows as n·k·log n. Hashes are computed from the pictures on first use and cached in the
collection's database (table ``duplicate_hashes``), keyed by the picture reference so that a
changed picture is hashed again.

Thresholds (see docs/formats.md for how they were measured): a pair is a duplicate when its
pHashes differ in at most ``HASH_DISTANCE`` of 64 bits, or its visual vectors have cosine
similarity of at least the threshold measured for the collection's model (``models.catalog.duplicate_score``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

from .errors import IconodexError
from .formats.rows import item_payload
from .models.catalog import duplicate_score

if TYPE_CHECKING:
    from .collection import Collection

log = logging.getLogger(__name__)
HASH_DISTANCE = 10  # of 64 bits
MEASURED = "measured"  # min_score: the threshold measured for the collection's model
NEIGHBOURS = 16  # candidates asked per item and leg
HASH_SIDE = 32  # pHash: 32x32 grey, 8x8 lowest DCT frequencies
HASH_BATCH = 512

SCHEMA = """CREATE TABLE IF NOT EXISTS duplicate_hashes (
    key INTEGER PRIMARY KEY, image_key TEXT NOT NULL, phash INTEGER NOT NULL)"""


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    return np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n))


DCT = _dct_matrix(HASH_SIDE)


def phash(image: Image.Image) -> int:
    """64-bit perceptual hash: the signs of the 8x8 lowest 2-D DCT frequencies of a 32x32 grey
    thumbnail against their median (as in Zauner 2010 / imagehash.phash)."""
    grey = np.asarray(image.convert("L").resize((HASH_SIDE, HASH_SIDE), Image.Resampling.LANCZOS), dtype=np.float64)
    low = (DCT @ grey @ DCT.T)[:8, :8].ravel()
    bits = low > np.median(low)
    return int(np.packbits(bits).view(">u8")[0])


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


# -- grouping ---------------------------------------------------------------------------------


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[int]]:
        """Sets of two or more members, each sorted, largest first."""
        by_root: dict[int, list[int]] = {}
        for x in self.parent:
            by_root.setdefault(self.find(x), []).append(x)
        groups = [sorted(g) for g in by_root.values() if len(g) > 1]
        return sorted(groups, key=lambda g: (-len(g), g[0]))


def knn_pairs(keys: np.ndarray, found: np.ndarray, good: np.ndarray) -> np.ndarray:
    """(m, 2) pairs from a k-NN result: row i's neighbours ``found[i]`` where ``good``, self excluded."""
    rows = np.repeat(keys, found.shape[1]).reshape(found.shape)
    mask = good & (found >= 0) & (found != rows)
    return np.stack([rows[mask], found[mask]], axis=1)


def hash_pairs(keys: np.ndarray, hashes: np.ndarray, max_distance: int = HASH_DISTANCE,
               k: int = NEIGHBOURS) -> np.ndarray:
    """Pairs of keys whose 64-bit hashes differ in at most ``max_distance`` bits, through a
    Hamming-metric USearch index (k nearest per item, not all pairs)."""
    from usearch.index import Index

    if len(keys) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    packed = np.ascontiguousarray(np.asarray(hashes, dtype=">u8")).view(np.uint8).reshape(-1, 8)
    index = Index(ndim=64, metric="hamming", dtype="b1x8")
    index.add(np.asarray(keys, dtype=np.uint64), packed)
    found = index.search(packed, min(k + 1, len(keys)), exact=len(keys) < 20_000)
    neighbours = np.where(np.arange(found.keys.shape[1])[None, :] < np.asarray(found.counts)[:, None],
                          found.keys.astype(np.int64), -1)
    return knn_pairs(np.asarray(keys, dtype=np.int64), neighbours, found.distances <= max_distance)


def embedding_pairs(coll: Collection, space: str, min_score: float, k: int = NEIGHBOURS,
                    batch: int = 4096) -> Iterator[np.ndarray]:
    """Pairs of keys at cosine similarity ≥ ``min_score`` in ``space``, batch by batch."""
    for keys, matrix in coll.store.iter_vectors(space, batch):
        found, scores = coll.engine.search_many(space, matrix, k + 1)
        yield knn_pairs(keys, found, scores >= min_score)


# -- hashes of a collection's pictures -------------------------------------------------------


def collection_hashes(coll: Collection, *, workers: int = 8, failed: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(keys, uint64 pHashes) of every indexed item with a picture; computed once, then cached."""
    conn = coll.store.conn
    conn.execute(SCHEMA)
    conn.commit()
    keys: list[int] = []
    hashes: list[int] = []
    batch: list = []
    for item in coll.items():
        if item.image is not None:
            batch.append(item)
        if len(batch) >= HASH_BATCH:
            _hash_batch(coll, batch, keys, hashes, workers, failed)
            batch = []
    _hash_batch(coll, batch, keys, hashes, workers, failed)
    return np.asarray(keys, dtype=np.int64), np.asarray(hashes, dtype=np.int64).view(np.uint64)


def _hash_batch(coll: Collection, items: list, keys: list[int], hashes: list[int], workers: int,
                failed: list | None) -> None:
    if not items:
        return
    conn = coll.store.conn
    marks = ",".join("?" * len(items))
    cached = {row[0]: (row[1], row[2]) for row in conn.execute(
        f"SELECT key, image_key, phash FROM duplicate_hashes WHERE key IN ({marks})", [i.key for i in items])}
    todo = [i for i in items if cached.get(i.key, ("",))[0] != i.image.key()]
    fresh = dict(_compute(coll, todo, workers, failed))
    conn.executemany("INSERT OR REPLACE INTO duplicate_hashes (key, image_key, phash) VALUES (?, ?, ?)",
                     [(key, image_key, signed) for key, (image_key, signed) in fresh.items()])
    conn.commit()
    for item in items:
        entry = fresh.get(item.key) or cached.get(item.key)
        if entry is not None and entry[0] == item.image.key():
            keys.append(item.key)
            hashes.append(entry[1])


def _compute(coll: Collection, items: list, workers: int, failed: list | None) -> Iterator[tuple[int, tuple[str, int]]]:
    fetcher = _fetcher(coll)
    for position, outcome in fetcher.fetch_many([i.image for i in items], workers=workers):
        item = items[position]
        if isinstance(outcome, IconodexError):
            log.warning("duplicates: cannot hash %s: %s", item.id, outcome)
            if failed is not None:
                failed.append((item.id, str(outcome)))
            continue
        value = phash(outcome.image)
        yield item.key, (item.image.key(), value - (1 << 64) if value >= 1 << 63 else value)


def _fetcher(coll: Collection):
    """A fetcher asking for small pictures (a hash needs 32x32), sharing the collection's cache,
    without loading the model (an imported collection may not have it)."""
    from pathlib import Path

    from .fetch.cache import Cache
    from .fetch.images import ImageFetcher

    cache_dir = Path(coll.settings.cache_dir) if coll.settings.cache_dir else coll.path / "cache"
    return ImageFetcher(coll.http, Cache(cache_dir, max_bytes=coll.settings.cache_max_mb * 1024 * 1024),
                        min_side=HASH_SIDE * 2, max_pixels=coll.settings.max_pixels)


# -- the whole job ----------------------------------------------------------------------------


@dataclass
class DuplicateReport:
    groups: list[list[dict[str, Any]]] = field(default_factory=list)
    hashed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> list[dict[str, Any]]:
        return [{"group": n, "size": len(items), "items": items} for n, items in enumerate(self.groups, 1)]

    def as_neighbours(self) -> list[dict[str, Any]]:
        """Groups in the neighbours.json shape, so the same HTML preview shows them."""
        return [{"reference": items[0], "neighbours": items[1:]} for items in self.groups]


def find_duplicates(coll: Collection, *, hash_distance: int | None = HASH_DISTANCE,
                    min_score: float | Literal["measured"] | None = MEASURED, space: str | None = None,
                    k: int = NEIGHBOURS, workers: int = 8) -> DuplicateReport:
    """Group near-identical pictures. ``hash_distance=None`` or ``min_score=None`` turns a leg off;
    ``min_score="measured"`` is the threshold measured for the collection's model."""
    report = DuplicateReport()
    space = space or coll.similar_space
    union = UnionFind()
    hashes: dict[int, int] = {}
    if hash_distance is not None:
        keys, values = collection_hashes(coll, workers=workers, failed=report.failed)
        report.hashed = len(keys)
        hashes = dict(zip(keys.tolist(), values.tolist(), strict=True))
        for a, b in hash_pairs(keys, values, hash_distance, k):
            union.union(int(a), int(b))
    if min_score is not None and space in coll.spaces:
        threshold = measured_min_score(coll) if min_score == MEASURED else float(min_score)
        for pairs in embedding_pairs(coll, space, threshold, k):
            for a, b in pairs:
                union.union(int(a), int(b))
    report.groups = [_describe(coll, group, hashes, space) for group in union.groups()]
    return report


def measured_min_score(coll: Collection) -> float:
    """The visual-space cosine measured for the network that made this collection's vectors."""
    return duplicate_score(coll.model_name, (coll.identity or {}).get("variant"))


def _describe(coll: Collection, group: list[int], hashes: dict[int, int], space: str) -> list[dict[str, Any]]:
    """Members as payloads, each with its similarity and Hamming distance to the first member."""
    items = coll.store.get_many(group)
    scores = None
    if space in coll.spaces:
        vectors, present = coll.engine.get(space, np.asarray(group))
        scores = np.where(present, vectors @ vectors[0], np.nan) if present[0] else None
    described = []
    for position, key in enumerate(group):
        entry: dict[str, Any] = item_payload(items[key])
        if position and scores is not None and not np.isnan(scores[position]):
            entry["score"] = round(float(scores[position]), 4)
        if position and key in hashes and group[0] in hashes:
            entry["hamming"] = hamming(hashes[key], hashes[group[0]])
        described.append(entry)
    return described
