"""Reciprocal rank fusion (Cormack et al., 2009): shared by the search (vector legs + keyword leg)
and the store (its word and n-gram keyword indexes), which must not depend on each other."""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60  # the constant from Cormack et al.; robust without tuning


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], weights: Sequence[float]) -> dict[int, float]:
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, key in enumerate(ranking):
            fused[key] = fused.get(key, 0.0) + weight / (RRF_K + rank + 1)
    return fused


def fused_ranking(rankings: Sequence[Sequence[int]], limit: int) -> list[int]:
    """One ranking from several of the same leg, each key once: a key found by two of them ranks
    above one found by a single one at the same rank, but still counts once where this ranking
    is fused with others."""
    present = [ranking for ranking in rankings if ranking]
    if len(present) == 1:
        return list(present[0][:limit])
    fused = reciprocal_rank_fusion(present, [1.0] * len(present))
    return sorted(fused, key=fused.__getitem__, reverse=True)[:limit]
