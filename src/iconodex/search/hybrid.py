"""Hybrid ranking over named spaces.

Every candidate found by any leg gets its *real* similarity in every leg, read from its stored
vectors: an item missing from one leg's top-k is not scored 0 there (ImageSearchTR's defect).
The score is ``Σ wᵢ·simᵢ / Σ wᵢ`` over the legs in which the item has a vector at all, so an
item without catalogue text is judged on its picture alone rather than penalised.
A keyword leg, when present, is merged by reciprocal rank fusion (Cormack et al., 2009).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..index.base import VectorEngine
from ..ranking import reciprocal_rank_fusion

# How much deeper than the share of matching keys seen so far implies a filtered ANN search goes
# next: the share is an estimate, and a third search costs more than a deeper second one.
OVERFETCH = 2.0

__all__ = ["Leg", "candidates", "filtered_candidates", "fuse", "leg_similarities", "reciprocal_rank_fusion"]


@dataclass(slots=True)
class Leg:
    """One way of comparing the query to items: a query vector searched in one space."""

    name: str
    space: str
    vector: np.ndarray
    weight: float


def candidates(engine: VectorEngine, legs: Sequence[Leg], k: int, allowed: np.ndarray | None) -> np.ndarray:
    """Union of every leg's top-k keys."""
    found = [engine.search(leg.space, leg.vector, k, allowed)[0] for leg in legs if leg.weight > 0]
    if not found:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(found)).astype(np.int64)


def filtered_candidates(engine: VectorEngine, legs: Sequence[Leg], k: int,
                        matches: Callable[[np.ndarray], np.ndarray], matching_at_least: int) -> np.ndarray:
    """Union of every leg's top-k keys among those ``matches`` accepts, from ANN searches: the
    first k accepted in a leg's ranking are its filtered top-k, so a leg searches deeper (by the
    share of accepted keys seen so far) only until it has k, or has walked the whole space."""
    found = []
    for leg in legs:
        size = engine.count(leg.space) if leg.weight > 0 else 0
        fetch = min(size, k * 4)
        while fetch:
            keys = engine.search(leg.space, leg.vector, fetch)[0]
            kept = keys[matches(keys)]
            if len(kept) >= k or fetch >= size:
                found.append(kept[:k])
                break
            share = max(len(kept) / max(len(keys), 1), matching_at_least / size)
            fetch = min(size, max(fetch * 2, math.ceil(k * OVERFETCH / share)))
    if not found:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate(found)).astype(np.int64)


def leg_similarities(engine: VectorEngine, legs: Sequence[Leg], keys: np.ndarray) -> dict[str, np.ndarray]:
    """Per leg, the similarity of every key (NaN where the item has no vector in that space)."""
    sims: dict[str, np.ndarray] = {}
    for leg in legs:
        vectors, present = engine.get(leg.space, keys)
        values = vectors @ leg.vector
        sims[leg.name] = np.where(present, values, np.nan).astype(np.float32)
    return sims


def fuse(legs: Sequence[Leg], sims: dict[str, np.ndarray]) -> np.ndarray:
    """Weighted mean over the legs where a vector exists; NaN when none exists."""
    total = None
    weight = None
    for leg in legs:
        values = sims[leg.name]
        present = ~np.isnan(values)
        contribution = np.where(present, values * leg.weight, 0.0)
        mass = np.where(present, leg.weight, 0.0)
        total = contribution if total is None else total + contribution
        weight = mass if weight is None else weight + mass
    if total is None:
        return np.zeros(0, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan).astype(np.float32)

