"""An index kept in f16 or i8 (``--engine-option dtype=…``) holds rounded copies of the vectors:
it only proposes candidates, and every score is computed from the store's exact f32 vectors."""

from __future__ import annotations

import numpy as np
import pytest
from _index_helpers import synthetic_collection

from iconodex import Collection


def _exact_top(coll: Collection, item_id: str, k: int) -> tuple[list[int], dict[int, float]]:
    """The exact neighbours of ``item_id`` in the similar space, by the store's own vectors."""
    space = coll.searcher.similar_space
    key = coll.store.keys_for_ids([item_id])[item_id]
    keys, vectors = zip(*coll.store.iter_vectors(space), strict=True)
    keys, vectors = np.concatenate(keys), np.vstack(vectors)
    scores = vectors @ vectors[np.flatnonzero(keys == key)[0]]
    order = [int(i) for i in np.argsort(-scores) if keys[i] != key][:k]
    return [int(keys[i]) for i in order], {int(keys[i]): float(scores[i]) for i in order}


@pytest.mark.parametrize("dtype", ["f16", "i8"])
def test_a_rounded_index_ranks_and_scores_by_the_stored_vectors(tmp_path, dtype):
    with synthetic_collection(tmp_path / "coll", items=1200, engine_options={"dtype": dtype}) as coll:
        space = coll.searcher.similar_space
        assert coll.engine.inner._index(space).dtype.name.lower() == dtype  # really an index of that dtype
        for item_id in ("item-00003", "item-00500", "item-01100"):
            expected, scores = _exact_top(coll, item_id, 10)
            found = coll.search(like=item_id, limit=10, alpha=1.0)
            assert [result.key for result in found] == expected
            for result in found:
                assert result.scores[f"like:{space}"] == pytest.approx(scores[result.key], abs=2e-6)


def test_an_f32_index_still_scores_from_the_index(tmp_path):
    with synthetic_collection(tmp_path / "coll", items=300) as coll:
        space = coll.searcher.similar_space
        keys = np.asarray(list(coll.store.keys_for_ids(["item-00001", "item-00002"]).values()))
        assert coll.engine.inner.exact_vectors(space)
        from_index, present = coll.engine.get(space, keys)
        assert present.all()
        assert np.array_equal(from_index, coll.engine.inner.get(space, keys)[0])


@pytest.mark.parametrize(("dtype", "metric"), [("f32", "IP"), ("f16", "IP"), ("i8", "Cos")])
def test_a_new_index_measures_inner_product_except_in_i8(tmp_path, dtype, metric):
    """Stored vectors are unit length, so the inner product ranks and scores as the cosine does,
    without normalising both sides at every step of a walk; USearch's i8 inner product is a raw
    integer dot (no similarity), so an i8 index keeps the cosine."""
    with synthetic_collection(tmp_path / "coll", items=300, engine_options={"dtype": dtype}) as coll:
        space = coll.searcher.similar_space
        assert coll.engine.inner._index(space).metric.name == metric
        expected, scores = _exact_top(coll, "item-00007", 10)
        found = coll.search(like="item-00007", limit=10, alpha=1.0)
        assert [result.key for result in found] == expected
        assert [result.scores[f"like:{space}"] for result in found] == pytest.approx(
            [scores[key] for key in expected], abs=2e-6)
