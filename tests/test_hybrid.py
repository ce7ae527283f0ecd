"""Hybrid scoring: real similarities for every candidate in every leg, never 0 for 'missing'."""

from __future__ import annotations

import numpy as np
import pytest

from iconodex.index.usearch_engine import UsearchEngine
from iconodex.search.hybrid import Leg, candidates, fuse, leg_similarities, reciprocal_rank_fusion


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def engine(tmp_path):
    e = UsearchEngine(tmp_path / "index")
    e.ensure_space("image", 3)
    e.ensure_space("text", 3)
    # key 1 is the best picture but a middling text; key 2 the reverse; key 3 has no text at all
    e.upsert("image", np.array([1, 2, 3]), np.vstack([unit(1, 0, 0), unit(0.2, 1, 0), unit(0.9, 0.1, 0)]))
    e.upsert("text", np.array([1, 2]), np.vstack([unit(0.6, 0.8, 0), unit(1, 0, 0)]))
    return e


def test_candidate_missing_from_one_top_k_gets_its_real_score(engine):
    query = unit(1, 0, 0)
    legs = [Leg("q:image", "image", query, 0.5), Leg("q:text", "text", query, 0.5)]
    keys = candidates(engine, legs, k=1, allowed=None)  # image top-1 = 1, text top-1 = 2
    assert sorted(keys.tolist()) == [1, 2]
    sims = leg_similarities(engine, legs, keys)
    scores = dict(zip(keys.tolist(), fuse(legs, sims).tolist(), strict=True))
    # item 2 was not in the image top-1, yet its image similarity counts (not 0)
    assert scores[2] == pytest.approx(0.5 * float(unit(0.2, 1, 0) @ query) + 0.5 * 1.0, abs=1e-4)
    assert scores[1] == pytest.approx(0.5 * 1.0 + 0.5 * 0.6, abs=1e-4)


def test_item_without_a_vector_in_a_leg_is_judged_on_the_others(engine):
    query = unit(1, 0, 0)
    legs = [Leg("q:image", "image", query, 0.5), Leg("q:text", "text", query, 0.5)]
    sims = leg_similarities(engine, legs, np.array([3]))
    assert np.isnan(sims["q:text"][0])
    assert fuse(legs, sims)[0] == pytest.approx(float(unit(0.9, 0.1, 0) @ query), abs=1e-4)


def test_allowed_restricts_candidates(engine):
    keys, _ = engine.search("image", unit(1, 0, 0), 3, allowed=np.array([2]))
    assert keys.tolist() == [2]


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], [1.0, 1.0])
    assert max(fused, key=fused.get) == 1 and fused[3] > fused[2]
