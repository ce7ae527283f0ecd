"""Hybrid ranking over named spaces.

Every candidate found by any leg gets its *real* similarity in every leg, read from its stored
vectors: an item missing from one leg's top-k is not scored 0 there (ImageSearchTR's defect).
Two fusions of those similarities, over the legs in which the item has a vector at all (so an item
without catalogue text is judged on its picture alone rather than penalised):

* ``calibrated`` (the default, :func:`calibrated_fuse`): each leg's similarity is read on that leg's
  own scale and weighed by how well that leg separates right answers (both measured per model, see
  ``models.catalog.LEG_SCALES``), and the legs' evidence is summed, so the informative leg decides;
* ``mean`` (:func:`fuse`): ``Σ wᵢ·simᵢ / Σ wᵢ``, the plain weighted mean (what iconodex did first;
  kept for ``iconodex eval --legs`` comparisons).

A keyword leg, when present, is merged by reciprocal rank fusion (Cormack et al., 2009).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..index.base import VectorEngine
from ..ranking import reciprocal_rank_fusion

# How much deeper than the share of matching keys seen so far implies a filtered ANN search goes
# next: the share is an estimate, and a third search costs more than a deeper second one.
OVERFETCH = 2.0

__all__ = ["FUSIONS", "Leg", "LegScale", "calibrated_fuse", "candidates", "filtered_candidates", "fuse", "leg_scales",
           "leg_similarities", "reciprocal_rank_fusion"]


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
                        matches: Callable[[np.ndarray], np.ndarray], matching_at_least: int,
                        *, exactly: bool = False) -> np.ndarray:
    """Union of every leg's top-k keys among those ``matches`` accepts, from ANN searches: the
    first k accepted in a leg's ranking are its filtered top-k, so a leg searches deeper (by the
    share of accepted keys seen so far) only until it has k, or has walked the whole space. When
    the filter is known to match ``exactly`` ``matching_at_least`` items, the first search is
    already as deep as their share implies."""
    found = []
    for leg in legs:
        size = engine.count(leg.space) if leg.weight > 0 else 0
        fetch = min(size, k * 4)
        if exactly and size:
            fetch = min(size, max(k, math.ceil(k * OVERFETCH * size / max(matching_at_least, 1))))
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



# -- calibrated fusion -------------------------------------------------------------------------

MIN_SPREAD = 1e-3  # a leg whose candidates all score alike says nothing; keep its z-scores finite


@dataclass(frozen=True, slots=True)
class LegScale:
    """Where a leg's similarities usually sit (mean, standard deviation over items) and how far right
    answers sit above that, in standard deviations (the leg's separation d′: how informative it is)."""

    mean: float
    std: float
    separation: float = 1.0


def leg_scales(legs: Sequence[Leg], sims: dict[str, np.ndarray],
               measured: Mapping[str, LegScale] | None = None) -> dict[str, LegScale]:
    """Each leg's scale: the model's measured one when known, else this query's candidates' spread."""
    scales = {}
    for leg in legs:
        known = (measured or {}).get(leg.name)
        if known is not None:
            scales[leg.name] = known
            continue
        present = sims[leg.name][~np.isnan(sims[leg.name])]
        spread = float(present.std()) if len(present) > 1 else 0.0
        scales[leg.name] = LegScale(float(present.mean()) if len(present) else 0.0, max(spread, MIN_SPREAD))
    return scales


def calibrated_fuse(legs: Sequence[Leg], sims: dict[str, np.ndarray],
                    measured: Mapping[str, LegScale] | None = None) -> np.ndarray:
    """Fuse legs as evidence: each similarity becomes a z-score on its leg's scale, weighted by the
    leg's weight times its separation (a leg whose right answers barely stand out counts little).

    The evidence of the legs an item has a vector in is summed, not averaged, so a strong match in
    one leg is not pulled down by an ordinary score in another, and a leg the item has no vector in
    adds nothing (as an ordinary score would). Divided by the query's total leg weight and mapped back
    onto the legs' mean scale, scores stay comparable to cosine similarities and to a relevance cut.
    NaN when the item has no vector in any leg.
    """
    scales = leg_scales(legs, sims, measured)
    size = len(next(iter(sims.values()), []))
    evidence, found = np.zeros(size, dtype=np.float64), np.zeros(size, dtype=bool)
    for leg in legs:
        values, scale = sims[leg.name], scales[leg.name]
        present = ~np.isnan(values)
        z = (np.nan_to_num(values) - scale.mean) / scale.std
        evidence += np.where(present, leg.weight * scale.separation * z, 0.0)
        found |= present
    weights = [leg.weight * scales[leg.name].separation for leg in legs]
    total = sum(weights) or 1.0
    mean = sum(w * scales[leg.name].mean for w, leg in zip(weights, legs, strict=True)) / total
    std = sum(w * scales[leg.name].std for w, leg in zip(weights, legs, strict=True)) / total
    return np.where(found, mean + std * evidence / total, np.nan).astype(np.float32)


def mean_fuse(legs: Sequence[Leg], sims: dict[str, np.ndarray],
              measured: Mapping[str, LegScale] | None = None) -> np.ndarray:
    """:func:`fuse` with :func:`calibrated_fuse`'s signature; the measured scales do not matter to it."""
    return fuse(legs, sims)


FUSIONS = {"calibrated": calibrated_fuse, "mean": mean_fuse}
