"""Hybrid ranking over named spaces.

Every candidate found by any leg gets its *real* similarity in every leg, read from its stored
vectors: an item missing from one leg's top-k is not scored 0 there (ImageSearchTR's defect).
Two fusions of those similarities, over the legs in which the item has a vector at all (so an item
without catalogue text is judged on its picture alone rather than penalised):

* ``calibrated`` (the default, :func:`calibrated_fuse`): each leg's similarity is read on that leg's
  own scale and weighed by how well that leg separates right answers (both measured per model, see
  ``models.catalog.LEG_SCALES``), and the legs' evidence is summed, so the informative leg decides;
  its best candidate stays first unless beaten by more than its measured hold;
* ``mean`` (:func:`fuse`): ``Σ wᵢ·simᵢ / Σ wᵢ``, the plain weighted mean (what iconodex did first;
  kept for ``iconodex eval --legs`` comparisons).

A keyword leg, when present, is merged by reciprocal rank fusion (Cormack et al., 2009).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import IndexDamagedError
from ..index.base import VectorEngine
from ..ranking import reciprocal_rank_fusion

# How much deeper than the share of matching keys seen so far implies a filtered ANN search goes
# next: the share is an estimate, and a third search costs more than a deeper second one.
OVERFETCH = 2.0

__all__ = ["FUSIONS", "Leg", "LegScale", "Walks", "calibrated_fuse", "candidates", "filtered_walk", "fuse", "hold_winner",
           "leg_scales", "leg_similarities", "pooled", "reciprocal_rank_fusion", "walk"]


@dataclass(slots=True)
class Leg:
    """One way of comparing the query to items: a query vector searched in one space."""

    name: str
    space: str
    vector: np.ndarray
    weight: float
    walked: bool = True  # False: the leg scores the other legs' candidates without an index walk of its own


# Leg name → (keys, similarities) that leg's index walk returned, best first.
Walks = dict[str, tuple[np.ndarray, np.ndarray]]


def walk(engine: VectorEngine, legs: Sequence[Leg], k: int, allowed: np.ndarray | None) -> Walks:
    """Every weighted, walked leg's top-k."""
    return {leg.name: engine.search(leg.space, leg.vector, k, allowed) for leg in legs if leg.weight > 0 and leg.walked}


def pooled(walks: Walks) -> np.ndarray:
    """The union of the walks' keys, sorted."""
    if not walks:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate([keys for keys, _ in walks.values()])).astype(np.int64)


def candidates(engine: VectorEngine, legs: Sequence[Leg], k: int, allowed: np.ndarray | None) -> np.ndarray:
    """Union of every leg's top-k keys."""
    return pooled(walk(engine, legs, k, allowed))


def filtered_walk(engine: VectorEngine, legs: Sequence[Leg], k: int,
                  matches: Callable[[np.ndarray], np.ndarray], matching_at_least: int,
                  *, exactly: bool = False) -> Walks:
    """Every leg's top-k among the keys ``matches`` accepts, from ANN searches: the first k
    accepted in a leg's ranking are its filtered top-k, so a leg searches deeper (by the share of
    accepted keys seen so far) only until it has k, or has walked the whole space. When the filter
    is known to match ``exactly`` ``matching_at_least`` items, the first search is already as deep
    as their share implies."""
    found: Walks = {}
    for leg in legs:
        size = engine.count(leg.space) if leg.weight > 0 and leg.walked else 0
        fetch = min(size, k * 4)
        if exactly and size:
            fetch = min(size, max(k, math.ceil(k * OVERFETCH * size / max(matching_at_least, 1))))
        while fetch:
            keys, sims = engine.search(leg.space, leg.vector, fetch)
            kept = matches(keys)
            if kept.sum() >= k or fetch >= size:
                found[leg.name] = keys[kept][:k], sims[kept][:k]
                break
            share = max(kept.sum() / max(len(keys), 1), matching_at_least / size)
            fetch = min(size, max(fetch * 2, math.ceil(k * OVERFETCH / share)))
    return found


def walk_scores_exact(engine: VectorEngine, space: str) -> bool:
    """Whether a walk's similarities in ``space`` are the ones its stored vectors give: an f16 or i8
    index (``exact_vectors`` false) only proposes candidates, rescored from the store's vectors."""
    exact_vectors = getattr(engine, "exact_vectors", None)
    if exact_vectors is None:
        return True
    try:
        return bool(exact_vectors(space))
    except (KeyError, IndexDamagedError):  # answered from the store meanwhile: read, to be sure
        return False


def leg_similarities(engine: VectorEngine, legs: Sequence[Leg], keys: np.ndarray,
                     walks: Walks | None = None) -> dict[str, np.ndarray]:
    """Per leg, the similarity of every key (NaN where the item has no vector in that space). The
    similarities a leg's own walk already returned are taken as they are (when exact); only the
    other keys' vectors are read, in one batch per leg."""
    sims: dict[str, np.ndarray] = {}
    for leg in legs:
        values = np.full(len(keys), np.nan, dtype=np.float32)
        unknown = np.ones(len(keys), dtype=bool)
        found = (walks or {}).get(leg.name)
        if found is not None and len(found[0]) and walk_scores_exact(engine, leg.space):
            at = np.searchsorted(keys, found[0])  # keys are sorted (pooled)
            hit = at < len(keys)
            hit[hit] = keys[at[hit]] == found[0][hit]
            values[at[hit]], unknown[at[hit]] = found[1][hit], False
        if unknown.any():
            vectors, present = engine.get(leg.space, keys[unknown])
            values[unknown] = np.where(present, vectors @ leg.vector, np.nan)
        sims[leg.name] = values
    return sims


def fuse(legs: Sequence[Leg], sims: dict[str, np.ndarray]) -> np.ndarray:
    """Weighted mean over the legs where a vector exists; NaN when none exists."""
    if len(legs) == 1:
        return sims[legs[0].name]
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
# A held winner's lead over the item it holds off, in standard deviations of the fused scale: enough
# to survive the float32 scores, far below any real difference between two candidates.
HOLD_STEP = 1e-4


@dataclass(frozen=True, slots=True)
class LegScale:
    """Where a leg's similarities usually sit (mean, standard deviation over items) and how far right
    answers sit above that, in standard deviations (the leg's separation d′: how informative it is).

    ``hold``: when this leg is the query's most informative, how far (in standard deviations of the
    fused scale) another item must score above this leg's best candidate to take first place from it;
    None: no hold. A weak leg's ordinary score then reorders the runners-up but does not overturn a
    strong leg's winner, unless the fused evidence against it is clear."""

    mean: float
    std: float
    separation: float = 1.0
    hold: float | None = None


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
    NaN when the item has no vector in any leg. A single leg's evidence, mapped back onto its own
    scale, is its similarity: returned as it is, without the arithmetic or an unmeasured leg's spread.
    Where the most informative leg's scale has a ``hold``, its best candidate keeps first place unless
    another item's fused evidence beats it by more than that (:func:`hold_winner`).
    """
    if len(legs) == 1:
        return sims[legs[0].name]
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
    fused = np.where(found, evidence / total, np.nan)
    strongest = max(zip(weights, legs, strict=True), key=lambda pair: pair[0])[1]
    hold = scales[strongest.name].hold
    if hold is not None:
        hold_winner(fused, sims[strongest.name], hold)
    return (mean + std * fused).astype(np.float32)


def hold_winner(fused: np.ndarray, leg_sims: np.ndarray, hold: float) -> None:
    """Keep the best candidate of ``leg_sims`` first unless another item's ``fused`` evidence beats it
    by more than ``hold``: it is lifted just above the best item that does not (in place)."""
    if np.isnan(leg_sims).all():
        return
    winner = int(np.nanargmax(leg_sims))
    ahead = fused - fused[winner]
    within = np.flatnonzero((ahead > 0) & (ahead <= hold))
    if len(within):
        fused[winner] = fused[within].max() + HOLD_STEP


def mean_fuse(legs: Sequence[Leg], sims: dict[str, np.ndarray],
              measured: Mapping[str, LegScale] | None = None) -> np.ndarray:
    """:func:`fuse` with :func:`calibrated_fuse`'s signature; the measured scales do not matter to it."""
    return fuse(legs, sims)


FUSIONS = {"calibrated": calibrated_fuse, "mean": mean_fuse}
