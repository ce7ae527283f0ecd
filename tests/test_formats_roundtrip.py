"""Every single-space format: export → import keeps ids, pictures and vectors bit for bit,
and the imported collection answers more-like-this like the original."""

from __future__ import annotations

import numpy as np
import pytest
from _formats_helpers import catalogue_collection, vectors_by_id  # noqa: F401

from iconodex.formats import FORMATS

CASES = [("hdf5", "out.h5", "image"), ("onit-jsonl", "out.jsonl", "visual"), ("sari-npy", "out", "image")]


@pytest.mark.parametrize(("name", "dest", "space"), CASES)
def test_round_trip(name, dest, space, catalogue_collection, tmp_path):  # noqa: F811
    fmt = FORMATS.get(name)
    exported = fmt.export(catalogue_collection, tmp_path / dest, space=space, batch=3)
    coll, report = fmt.import_(tmp_path / dest, tmp_path / "coll", space=space, batch=5)
    with coll:
        assert exported.items == report.items == 8 and report.skipped == []
        original, back = vectors_by_id(catalogue_collection, space), vectors_by_id(coll, space)
        assert original.keys() == back.keys()
        assert all(np.array_equal(original[i], back[i]) for i in original)
        for item_id in ("101", "105"):
            assert coll.get(item_id).image == catalogue_collection.get(item_id).image
        assert coll.similar_space == space
        before = [r.id for r in catalogue_collection.search(like="102", alpha=1.0, keyword=False, limit=3)]
        after = [r.id for r in coll.search(like="102", alpha=1.0, keyword=False, limit=3)]
        if space == catalogue_collection.similar_space:
            assert after == before


def test_formats_are_listed_and_unknown_ones_refused():
    assert FORMATS.names() == ["hdf5", "onit-jsonl", "sari-npy", "uform-hf"]
    with pytest.raises(Exception, match="unknown format 'parquet'"):
        FORMATS.get("parquet")
