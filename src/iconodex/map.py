"""A map of the whole collection (after Yale DHLab's PixPlot): every picture at a point of a 2-D
field where similar pictures sit together, grouped into named clusters.

* layout: openTSNE on the similar-picture space (cosine). Measured against UMAP here it kept more
  of each item's true neighbours per second (docs/map.md); its fitted embedding is kept beside the
  collection (``map/layout.pkl``) so a later run places new items into the existing field
  (``transform``) instead of moving everything; ``refit=True`` starts over. Below ``MIN_FIT`` items
  the layout is the first two principal components (t-SNE needs a neighbourhood to work with).
* clusters: HDBSCAN (scikit-learn) on the 2-D layout; each cluster is named by its most distinctive
  catalogue words (tf-idf: frequent in the cluster, rare elsewhere) and, for the offline model,
  the ImageNet class nearest the cluster's mean picture vector.
* storage: tables ``map_points``, ``map_clusters`` and ``map_atlases`` (store migration 3).
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import NotFoundError
from .extras import require

if TYPE_CHECKING:
    from .collection import Collection
    from .store import ItemStore

log = logging.getLogger(__name__)
MIN_FIT = 32  # items: fewer get a PCA layout
# t-SNE's neighbourhood size: 10 keeps more of each item's nearest neighbours next to it than the
# customary 30, in less time (docs/map.md, "Neighbourhoods"); larger values favour the layout of groups
PERPLEXITY = 10.0
MIN_CLUSTER = 5  # items per HDBSCAN cluster (at least); grows with the collection
NAME_WORDS = 3
WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
STOP_WORDS = frozenset("the and for with from this that are was were his her its our their des les une der die "
                       "das und von mit del los las por con una".split())
FIELD = 1000.0  # the layout is scaled into [0, FIELD]² so clients need no bounds
# an item's picture as the store knows it: its reference and the hash of its fetched bytes
PICTURE = "coalesce(items.image_key, '') || ' ' || coalesce(items.content_hash, '')"


@dataclass(slots=True)
class MapReport:
    placed: int  # items given a new point
    kept: int  # items whose point was kept
    refitted: bool
    clusters: int


# -- layout -----------------------------------------------------------------------------------


def fit_layout(vectors: np.ndarray, seed: int = 0, perplexity: float = PERPLEXITY) -> tuple[np.ndarray, Any]:
    """2-D points for ``vectors`` (rows unit-normalised) and a model that can place new ones."""
    if len(vectors) < MIN_FIT:
        return _pca_fit(vectors)
    TSNE = require("openTSNE", "map", "the map's layout").TSNE
    perplexity = float(min(perplexity, max(2, (len(vectors) - 1) // 3)))
    embedding = TSNE(perplexity=perplexity, metric="cosine", n_jobs=2, random_state=seed).fit(vectors)
    return np.asarray(embedding, dtype=np.float64), embedding


def place(model: Any, vectors: np.ndarray) -> np.ndarray:
    """New items' points in a fitted layout: each at the median of its nearest fitted items'
    points. openTSNE's default further optimisation let some drift into the wrong group (1 of 20
    on the labelled test set), which a curator reads as a wrong neighbour."""
    if isinstance(model, PcaLayout):
        return model.transform(vectors)
    return np.asarray(model.transform(vectors, initialization="median", n_iter=0), dtype=np.float64)


@dataclass(slots=True)
class PcaLayout:
    mean: np.ndarray
    axes: np.ndarray  # (dims, 2)

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        return (vectors - self.mean) @ self.axes


def _pca_fit(vectors: np.ndarray) -> tuple[np.ndarray, PcaLayout]:
    mean = vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    axes = np.zeros((vectors.shape[1], 2))
    axes[:, :min(2, len(vt))] = vt[:2].T
    model = PcaLayout(mean, axes)
    return model.transform(vectors), model


def _scaled(points: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Points in [0, FIELD]² and the (offset x, offset y, scale) that got them there."""
    low = points.min(axis=0)
    span = float(max(np.ptp(points, axis=0).max(), 1e-9))
    return (points - low) * (FIELD / span), [float(low[0]), float(low[1]), FIELD / span]


# -- clusters and names -----------------------------------------------------------------------


def find_clusters(points: np.ndarray) -> np.ndarray:
    """A cluster number per point, -1 for none (HDBSCAN on the layout)."""
    if len(points) < 2 * MIN_CLUSTER:
        return np.full(len(points), -1, dtype=np.int64)
    HDBSCAN = require("sklearn.cluster", "map", "the map's clusters").HDBSCAN
    size = max(MIN_CLUSTER, len(points) // 200)
    return HDBSCAN(min_cluster_size=size, min_samples=MIN_CLUSTER, copy=True).fit_predict(points).astype(np.int64)


def words(text: str) -> list[str]:
    return [w for w in (m.lower() for m in WORD.findall(text)) if w not in STOP_WORDS]


def distinctive_words(groups: dict[int, list[str]], top: int = NAME_WORDS) -> dict[int, list[str]]:
    """Each group's ``top`` words by tf-idf: how often the word is used in the group, times the log of
    how few groups use it; a word every group uses names none (a lone group: plain counts).
    ``groups``: texts per group."""
    counts = {group: Counter(w for text in texts for w in words(text)) for group, texts in groups.items()}
    used_by = Counter(w for counter in counts.values() for w in counter)
    total = len(groups)

    def score(counter: Counter, word: str) -> float:
        return counter[word] * (math.log(total / used_by[word]) if total > 1 else 1.0)

    names: dict[int, list[str]] = {}
    for group, counter in counts.items():
        scored = sorted((w for w in counter if score(counter, w) > 0), key=lambda w: (-score(counter, w), w))
        names[group] = scored[:top]
    return names


def _item_text(item: Any) -> str:
    values = [item.title]
    for value in item.metadata.values():
        values.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    return " ".join(values)


def class_names(coll: Collection, keys: np.ndarray, labels: np.ndarray) -> dict[int, str]:
    """For the offline model: the ImageNet class nearest each cluster's mean ConSE picture vector."""
    if coll.model_name != "offline" or "image" not in coll.spaces:
        return {}
    from .models import conse

    found, vectors = coll.store.vectors_for("image", keys.tolist())
    by_key = dict(zip(found.tolist(), vectors, strict=True))
    classes, names = conse.class_embeddings(), conse.class_labels()
    # The image space also holds the learned projection (offline model version 2), whose vectors share
    # one direction: compare what sets a cluster apart from the whole map with centred class names.
    classes = classes - classes.mean(axis=0)
    overall = vectors.mean(axis=0) if len(vectors) else 0.0
    result: dict[int, str] = {}
    for cluster in sorted(set(labels.tolist()) - {-1}):
        members = [by_key[k] for k in keys[labels == cluster].tolist() if k in by_key]
        if members:
            result[cluster] = names[int(np.argmax(classes @ (np.mean(members, axis=0) - overall)))].split(",")[0]
    return result


def name_clusters(coll: Collection, keys: np.ndarray, labels: np.ndarray) -> dict[int, tuple[str, list[str]]]:
    """Each cluster's (name, terms): its distinctive catalogue words, then its ImageNet class."""
    items = coll.store.get_many(keys.tolist())
    groups: dict[int, list[str]] = {}
    for key, label in zip(keys.tolist(), labels.tolist(), strict=True):
        if label >= 0 and key in items:
            groups.setdefault(label, []).append(_item_text(items[key]))
    terms = distinctive_words(groups)
    classes = class_names(coll, keys, labels)
    named = {}
    for cluster, cluster_terms in terms.items():
        parts = cluster_terms + ([classes[cluster]] if cluster in classes and classes[cluster] not in cluster_terms
                                 else [])
        named[cluster] = (" · ".join(parts) or f"cluster {cluster + 1}", parts)
    return named


# -- the command ------------------------------------------------------------------------------


def model_path(coll: Collection) -> Path:
    return Path(coll.path) / "map" / "layout.pkl"


def build_map(coll: Collection, *, refit: bool = False, seed: int = 0, perplexity: float = PERPLEXITY) -> MapReport:
    """Lay out the collection's similar space, cluster it, name the clusters and store it all.

    Without ``refit``, items already on the map keep their points and new ones, and those whose
    picture changed, are placed into the fitted layout; items no longer in the collection leave it."""
    store = coll.store
    keys, vectors = _all_vectors(coll)
    if not len(keys):
        raise NotFoundError("the collection has no embedded items to map; ingest some first")
    known = {} if refit else _stored_points(store)
    path = model_path(coll)
    model = _load_model(path) if known and store.get_meta("map_transform") else None
    refitted = model is None
    if refitted:
        raw, model = fit_layout(vectors, seed, perplexity)
        _save_model(path, model)
        points, transform = _scaled(raw)
        new_keys = keys
    else:
        transform = store.get_meta("map_transform")
        new = np.array([k not in known for k in keys.tolist()], dtype=bool)
        new_keys = keys[new]
        points = np.array([known.get(k, (0.0, 0.0)) for k in keys.tolist()], dtype=np.float64).reshape(-1, 2)
        if new.any():
            raw = place(model, vectors[new])
            points[new] = (raw - transform[:2]) * transform[2]
    labels = find_clusters(points)
    names = name_clusters(coll, keys, labels)
    write_map(store, keys, points, labels, names, transform)
    return MapReport(placed=len(new_keys), kept=len(keys) - len(new_keys), refitted=refitted,
                     clusters=len(names))


def _all_vectors(coll: Collection) -> tuple[np.ndarray, np.ndarray]:
    space = coll.similar_space
    parts = list(coll.store.iter_vectors(space))
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros((0, coll.spaces.get(space, 1)), dtype=np.float32)
    keys = np.concatenate([k for k, _ in parts])
    vectors = np.concatenate([v for _, v in parts]).astype(np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return keys.astype(np.int64), vectors / np.where(norms > 0, norms, 1)


def _load_model(path: Path) -> Any:
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)  # written by build_map in the collection's own folder
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        log.warning("map: the saved layout cannot be read (%s); fitting a new one", exc)
        return None


def _save_model(path: Path, model: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    with partial.open("wb") as handle:
        pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)


def _stored_points(store: ItemStore) -> dict[int, tuple[float, float]]:
    """The points still valid: of items whose picture is the one they were placed for."""
    rows = store.conn.execute(f"SELECT p.key, p.x, p.y FROM map_points p JOIN items ON items.key = p.key "
                              f"WHERE p.picture IS NULL OR p.picture = {PICTURE}")
    return {int(key): (x, y) for key, x, y in rows}


def write_map(store: ItemStore, keys: np.ndarray, points: np.ndarray, labels: np.ndarray,
              names: dict[int, tuple[str, list[str]]], transform: list[float]) -> None:
    """Replace the stored map in one transaction: a point, cluster and picture per key, the named
    clusters (centre and extent from their points), and the (x offset, y offset, scale) into the field."""
    rows = [(int(k), float(x), float(y), int(c)) for k, (x, y), c in zip(keys, points, labels, strict=True)]
    clusters = []
    for cluster, (name, terms) in names.items():
        members = points[labels == cluster]
        centre = members.mean(axis=0)
        clusters.append((cluster, name, json.dumps(terms), len(members), float(centre[0]), float(centre[1]),
                         float(np.ptp(members, axis=0).max())))
    with store.transaction() as conn:
        conn.execute("DELETE FROM map_points")
        conn.executemany("INSERT INTO map_points (key, x, y, cluster) VALUES (?, ?, ?, ?)", rows)
        conn.execute(f"UPDATE map_points SET picture = (SELECT {PICTURE} FROM items WHERE items.key = map_points.key)")
        conn.execute("DELETE FROM map_clusters")
        conn.executemany("INSERT INTO map_clusters (cluster, name, terms, size, x, y, extent) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)", clusters)
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('map_transform', ?)", (json.dumps(transform),))


# -- reading ----------------------------------------------------------------------------------


def map_points(store: ItemStore) -> list[dict[str, Any]]:
    """Every mapped item: id, title, x, y, cluster (in key order, which is also atlas cell order)."""
    try:
        rows = store.conn.execute(
            "SELECT i.id, i.title, p.x, p.y, p.cluster FROM map_points p JOIN items i ON i.key = p.key "
            "ORDER BY p.key").fetchall()
    except sqlite3.OperationalError as exc:  # a store from before the map, opened read-only
        raise NotFoundError(f"this collection has no map yet ({exc}); run `iconodex map -c …`") from None
    if not rows:
        raise NotFoundError("this collection has no map yet; run `iconodex map -c …`")
    return [{"id": r[0], "title": r[1], "x": round(r[2], 3), "y": round(r[3], 3), "cluster": r[4]} for r in rows]


def map_clusters(store: ItemStore) -> list[dict[str, Any]]:
    rows = store.conn.execute("SELECT cluster, name, terms, size, x, y, extent FROM map_clusters ORDER BY cluster")
    return [{"cluster": r[0], "name": r[1], "terms": json.loads(r[2]), "size": r[3], "x": r[4], "y": r[5],
             "extent": r[6]} for r in rows]

