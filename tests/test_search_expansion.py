"""The default search expansion (HNSW ef) follows the index's size: the embedded engines search a small
index with a narrow walk and a large one with a wider one, from the moment it is opened and as a writer
grows it; an explicit ``expansion_search`` option stays fixed. Options given as text (``--engine-option``,
a configuration file) are read as numbers."""

from __future__ import annotations

import numpy as np
import pytest
from _index_helpers import synthetic_collection

from iconodex.index import faiss_engine, usearch_engine
from iconodex.index.expansion import CAP, search_expansion
from iconodex.index.faiss_engine import FaissEngine, FaissSpace
from iconodex.index.usearch_engine import SEARCH_EXPANSIONS, UsearchEngine

DIMS = 8
SMALL, GROWN = 300, 4_000  # on either side of the scaled-down first and second measured sizes


def unit(rows: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, DIMS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def small_points(monkeypatch):
    """The engines' measured points moved down to test sizes (the same rule, 100× smaller sizes), so a
    few thousand vectors cross from one point's expansion to a wider one."""
    def scaled(points):
        return tuple((size // 100, ef) for size, ef in points)

    monkeypatch.setattr(usearch_engine, "SEARCH_EXPANSIONS", {dtype: scaled(points) for dtype, points in
                                                              usearch_engine.SEARCH_EXPANSIONS.items()})
    monkeypatch.setattr(faiss_engine, "SEARCH_EXPANSIONS", scaled(faiss_engine.SEARCH_EXPANSIONS))
    return lambda engine, count: search_expansion(count, usearch_engine.SEARCH_EXPANSIONS["f32"]
                                                  if engine is UsearchEngine else faiss_engine.SEARCH_EXPANSIONS)


def fill(engine, rows: int, start: int = 0) -> None:
    engine.ensure_space("image", DIMS)
    engine.upsert("image", np.arange(start, start + rows, dtype=np.int64), unit(rows, seed=start))


def used_expansion(engine) -> int:
    """Run a real search and report the expansion the library walked with: USearch's ``Index`` holds it;
    FAISS gets it with each call (recorded on its way through)."""
    if isinstance(engine, UsearchEngine):
        engine.search("image", unit(1, seed=99)[0], 10)
        return int(engine._index("image").expansion_search)
    seen: list[int] = []
    original = FaissSpace.search
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FaissSpace, "search", lambda self, q, k, ef, bits, exact: seen.append(ef) or
                      original(self, q, k, ef, bits, exact))
        found, _ = engine.search("image", unit(1, seed=99)[0], 10)
    assert len(found) == 10 and len(seen) == 1
    return seen[0]


# -- the rule ------------------------------------------------------------------------------------

def test_the_rule_meets_each_measured_point_and_grows_between_them():
    for points in (*SEARCH_EXPANSIONS.values(), faiss_engine.SEARCH_EXPANSIONS):
        for size, ef in points:
            assert search_expansion(size, points) == ef
        sizes = np.unique(np.geomspace(1, 10**9, 200).astype(int))
        values = [search_expansion(int(n), points) for n in sizes]
        assert all(a <= b for a, b in zip(values, values[1:], strict=False)), "never narrower for a larger index"
        assert values[0] == points[0][1] and values[-1] <= CAP


def test_two_million_f32_vectors_get_more_than_the_old_fixed_96():
    # at 2M × 256 the fixed 96 reached recall@10 0.936; 128 was the smallest reaching 0.95
    assert search_expansion(2_000_000, SEARCH_EXPANSIONS["f32"]) >= 128
    assert search_expansion(4_000_000, SEARCH_EXPANSIONS["f32"]) > search_expansion(2_000_000, SEARCH_EXPANSIONS["f32"])
    assert search_expansion(200_000, SEARCH_EXPANSIONS["f32"]) < 96  # a smaller index walks less


# -- the engines ---------------------------------------------------------------------------------

@pytest.mark.parametrize("engine_class", [UsearchEngine, FaissEngine])
def test_an_opened_index_searches_with_the_expansion_of_its_size(tmp_path, small_points, engine_class):
    for folder, rows in (("small", SMALL), ("grown", GROWN)):
        writer = engine_class(tmp_path / folder, exact_below=0)
        fill(writer, rows)
        writer.flush()
        writer.close()
        reader = engine_class(tmp_path / folder, exact_below=0, read_only=True)
        assert used_expansion(reader) == small_points(engine_class, rows)
        reader.close()
    assert small_points(engine_class, GROWN) > small_points(engine_class, SMALL)


@pytest.mark.parametrize("engine_class", [UsearchEngine, FaissEngine])
def test_a_writer_searches_with_the_expansion_of_the_size_it_grew_to(tmp_path, small_points, engine_class):
    engine = engine_class(tmp_path / "index", exact_below=0)
    fill(engine, SMALL)
    assert used_expansion(engine) == small_points(engine_class, SMALL)
    fill(engine, GROWN - SMALL, start=SMALL)  # the same session, nothing saved yet
    assert used_expansion(engine) == small_points(engine_class, GROWN) > small_points(engine_class, SMALL)
    assert engine.expansion("image") == small_points(engine_class, GROWN)
    engine.close()


@pytest.mark.parametrize("engine_class", [UsearchEngine, FaissEngine])
def test_a_small_index_walks_narrower_than_the_old_fixed_expansion(tmp_path, engine_class):
    engine = engine_class(tmp_path / "index", exact_below=0)
    fill(engine, SMALL)
    old = {UsearchEngine: 96, FaissEngine: 80}[engine_class]  # the fixed values, chosen at 1M
    assert used_expansion(engine) == engine.expansion("image") < old
    engine.close()


def test_usearch_takes_the_expansion_of_the_dtype_its_file_was_saved_with(tmp_path):
    writer = UsearchEngine(tmp_path / "index", dtype="i8", exact_below=0)
    fill(writer, SMALL)
    writer.flush()
    i8, f32 = SEARCH_EXPANSIONS["i8"][0][1], SEARCH_EXPANSIONS["f32"][0][1]
    assert writer.expansion("image") == i8 != f32
    writer.close()
    reader = UsearchEngine(tmp_path / "index", exact_below=0, read_only=True)  # made for f32; the file is i8
    assert used_expansion(reader) == i8
    reader.close()


@pytest.mark.parametrize("engine_class", [UsearchEngine, FaissEngine])
def test_an_explicit_expansion_stays_fixed_and_may_be_text(tmp_path, small_points, engine_class):
    engine = engine_class(tmp_path / "index", exact_below="0", expansion_search="200")
    fill(engine, SMALL)
    assert used_expansion(engine) == 200
    fill(engine, GROWN - SMALL, start=SMALL)
    assert used_expansion(engine) == 200
    engine.flush()
    engine.close()
    reader = engine_class(tmp_path / "index", exact_below=0, expansion_search=200, read_only=True)
    assert used_expansion(reader) == 200
    reader.close()


def test_usearch_options_given_as_text_are_read_as_numbers(tmp_path):
    engine = UsearchEngine(tmp_path / "index", connectivity="8", expansion_add="64", expansion_search="128",
                           exact_below="0")
    fill(engine, 500)
    found, _ = engine.search("image", unit(1, seed=99)[0], 10)
    index = engine._index("image")
    assert len(found) == 10 and (index.connectivity, index.expansion_search) == (8, 128)
    engine.close()


def test_a_collection_created_with_text_engine_options_searches(tmp_path):
    # what `--engine-option expansion_search=128` and a configuration file give the collection
    with synthetic_collection(tmp_path / "coll", items=300,
                              engine_options={"expansion_search": "128", "exact_below": "0"}) as coll:
        assert coll.search(like="item-00003", limit=5)
        assert coll.engine.inner.expansion(coll.searcher.similar_space) == 128
