"""A search checks the index's freshness once, not once per engine call, and still sees what
another process saved before it began."""

from __future__ import annotations

import os

import pytest
from _index_helpers import synthetic_collection

from iconodex import Collection
from iconodex.index.files import MANIFEST


@pytest.fixture(scope="module")
def collection_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("fresh") / "coll"
    synthetic_collection(path, items=60).close()
    return path


@pytest.fixture
def manifest_stats(monkeypatch):
    """How many times the index manifest is stat'ed (each is a freshness check)."""
    seen: list[str] = []
    real = os.stat

    def counting(path, *args, **kwargs):
        if os.fspath(path).endswith(MANIFEST):
            seen.append(os.fspath(path))
        return real(path, *args, **kwargs)
    monkeypatch.setattr(os, "stat", counting)
    return seen


@pytest.mark.parametrize("query", [{"like": "item-00003"}, {"text": "red boat"}, {"text": "red boat", "like": "item-00004"}])
def test_a_search_checks_the_index_s_freshness_once(collection_path, manifest_stats, query):
    with Collection.open(collection_path, read_only=True) as coll:
        coll.search(**query, limit=10)  # opens the files and loads the model
        manifest_stats.clear()
        assert len(coll.search(**query, limit=10)) == 10
        assert len(manifest_stats) == 1, manifest_stats


def test_each_search_sees_what_another_process_saved_before_it(collection_path, tmp_path):
    path = tmp_path / "coll"
    synthetic_collection(path, items=60).close()
    with Collection.open(path, read_only=True) as reader:
        assert "item-00005" in [r.id for r in reader.search(like="item-00004", alpha=1.0, limit=60)]
        with Collection.open(path) as writer:
            writer.delete(["item-00005"])
        assert "item-00005" not in [r.id for r in reader.search(like="item-00004", alpha=1.0, limit=60)]
