"""The VectorEngine contract, checked against every engine the same way.

Qdrant runs in qdrant-client's embedded local mode (``path=``): no Qdrant server is available
here, so the server code path (``url=``) is only exercised by hand against a real cluster. Milvus
runs as Milvus Lite (no ``uri``); test_milvus_engine.py checks the same on a real Milvus server.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from iconodex import Collection
from iconodex.index import ENGINES
from iconodex.index.base import VectorEngine

ENGINE_NAMES = ["usearch", "faiss", "qdrant", "milvus"]
SKIMAGE_DATA = Path(__import__("skimage").__file__).parent / "data"
PICTURES = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "horse.png"]


def unit(rows: int, dims: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact(keys: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = vectors @ query
    order = np.argsort(-scores)[:k]
    return keys[order], scores[order]


@pytest.fixture(params=ENGINE_NAMES)
def make_engine(request, tmp_path) -> Callable[..., VectorEngine]:
    """Opens the engine under test on one directory; every engine opened is closed afterwards."""
    opened: list[VectorEngine] = []

    def make(**options) -> VectorEngine:
        engine = ENGINES.get(request.param)(tmp_path / "index", **options)
        opened.append(engine)
        return engine

    make.name = request.param
    yield make
    for engine in opened:
        engine.close()


@pytest.fixture
def filled(make_engine) -> tuple[VectorEngine, np.ndarray, np.ndarray]:
    engine = make_engine()
    keys = np.arange(1, 301, dtype=np.int64)
    vectors = unit(300, 32, seed=1)
    engine.ensure_space("image", 32)
    engine.upsert("image", keys, vectors)
    engine.flush()
    return engine, keys, vectors


def test_spaces_are_named_and_dims_are_checked(make_engine):
    engine = make_engine()
    assert engine.spaces() == {}
    engine.ensure_space("image", 8)
    engine.ensure_space("text", 4)
    engine.ensure_space("image", 8)  # idempotent
    assert engine.spaces() == {"image": 8, "text": 4}
    with pytest.raises(ValueError, match="8 dims"):
        engine.ensure_space("image", 16)


def test_search_matches_exact_order_and_scores(filled):
    engine, keys, vectors = filled
    for query in unit(5, 32, seed=2):
        found, scores = engine.search("image", query, 10)
        want, want_scores = exact(keys, vectors, query, 10)
        assert found.tolist() == want.tolist()
        np.testing.assert_allclose(scores, want_scores, atol=1e-4)


def test_upsert_replaces_without_duplicates(filled):
    engine, keys, vectors = filled
    replaced = unit(20, 32, seed=3)
    engine.upsert("image", keys[:20], replaced)
    engine.upsert("image", keys[:20], replaced)
    assert engine.count("image") == 300
    stored, present = engine.get("image", keys[:20])
    assert present.all()
    np.testing.assert_allclose(stored, replaced, atol=1e-5)
    found, scores = engine.search("image", replaced[0], 3)
    assert found[0] == keys[0] and scores[0] == pytest.approx(1.0, abs=1e-4)
    assert len(set(found.tolist())) == len(found)


def test_spaces_are_independent(filled):
    engine, keys, vectors = filled
    engine.ensure_space("text", 8)
    text = unit(10, 8, seed=4)
    engine.upsert("text", keys[:10], text)
    assert engine.count("text") == 10 and engine.count("image") == 300
    stored, present = engine.get("image", keys[:10])  # writing text kept the pictures' vectors
    assert present.all()
    np.testing.assert_allclose(stored, vectors[:10], atol=1e-5)
    engine.delete("text", keys[:5])
    assert engine.count("text") == 5 and engine.count("image") == 300


def test_delete_removes_from_search_and_get(filled):
    engine, keys, vectors = filled
    engine.delete("image", keys[:100])
    engine.delete("image", np.asarray([999_999]))  # an unknown key is not an error
    assert engine.count("image") == 200
    found, _ = engine.search("image", vectors[0], 50)
    assert not set(found.tolist()) & set(keys[:100].tolist())
    _, present = engine.get("image", keys[98:102])
    assert present.tolist() == [False, False, True, True]


def test_get_reports_missing_keys(filled):
    engine, keys, vectors = filled
    stored, present = engine.get("image", np.asarray([5, 123_456, 7]))
    assert present.tolist() == [True, False, True]
    np.testing.assert_allclose(stored[[0, 2]], vectors[[4, 6]], atol=1e-5)
    assert not stored[1].any()
    empty, none = engine.get("image", np.zeros(0, dtype=np.int64))
    assert empty.shape == (0, 32) and none.shape == (0,)


def test_allowed_small_set(filled):
    engine, keys, vectors = filled
    allowed = np.asarray([3, 50, 51, 200, 299], dtype=np.int64)
    query = unit(1, 32, seed=5)[0]
    found, scores = engine.search("image", query, 3, allowed)
    want, want_scores = exact(allowed, vectors[allowed - 1], query, 3)
    assert found.tolist() == want.tolist()
    np.testing.assert_allclose(scores, want_scores, atol=1e-4)
    found, _ = engine.search("image", query, 10, allowed)  # asking for more than allowed holds
    assert sorted(found.tolist()) == sorted(allowed.tolist())
    assert len(engine.search("image", query, 10, np.zeros(0, dtype=np.int64))[0]) == 0


# usearch and faiss need an allowed set past their direct-scoring threshold to reach their over-fetch (usearch)
# or filtered-walk (faiss) path;
# milvus needs more than 16,384 allowed keys to search in chunks; qdrant filters by ids server-side at any size, and local mode commits each point to SQLite
# (about 2 ms a point), so a smaller collection checks the same thing there.
LARGE_ROWS = {"usearch": 24_000, "faiss": 24_000, "qdrant": 3_000, "milvus": 20_000}


def test_allowed_large_set_is_filtered(make_engine):
    engine = make_engine()
    rows = LARGE_ROWS[make_engine.name]
    keys = np.arange(1, rows + 1, dtype=np.int64)
    vectors = unit(rows, 8, seed=6)
    engine.ensure_space("image", 8)
    engine.upsert("image", keys, vectors)
    allowed = keys[keys % 20 != 0]  # 95% of the collection
    for query in unit(3, 8, seed=7):
        found, _ = engine.search("image", query, 10, allowed)
        assert len(found) == 10 and np.isin(found, allowed).all()
        want, _ = exact(allowed, vectors[allowed - 1], query, 10)
        assert len(set(found.tolist()) & set(want.tolist())) >= 8  # ANN: high recall, not exactness


def test_search_many_pads_with_minus_one(make_engine):
    engine = make_engine()
    engine.ensure_space("image", 16)
    vectors = unit(4, 16, seed=8)
    engine.upsert("image", np.asarray([10, 20, 30, 40]), vectors)
    keys, scores = engine.search_many("image", vectors[:2], 6)
    assert keys.shape == (2, 6) and scores.shape == (2, 6)
    assert keys[0, 0] == 10 and keys[1, 0] == 20
    assert (keys[:, 4:] == -1).all() and (scores[:, 4:] == 0).all()
    assert sorted(keys[0, :4].tolist()) == [10, 20, 30, 40]
    np.testing.assert_allclose(scores[0, :4], np.sort(vectors @ vectors[0])[::-1], atol=1e-4)


def test_search_many_matches_single_searches(filled):
    engine, keys, vectors = filled
    queries = unit(4, 32, seed=9)
    many, many_scores = engine.search_many("image", queries, 5)
    for row, query in enumerate(queries):
        one, one_scores = engine.search("image", query, 5)
        assert many[row].tolist() == one.tolist()
        np.testing.assert_allclose(many_scores[row], one_scores, atol=1e-5)


def test_unknown_or_empty_space_finds_nothing(make_engine):
    engine = make_engine()
    assert len(engine.search("image", np.ones(4, dtype=np.float32), 5)[0]) == 0
    assert engine.count("image") == 0
    engine.ensure_space("image", 4)
    assert len(engine.search("image", np.ones(4, dtype=np.float32), 5)[0]) == 0
    keys, _ = engine.search_many("image", np.ones((2, 4), dtype=np.float32), 3)
    assert (keys == -1).all()


def test_reset_empties_a_space(filled):
    engine, keys, vectors = filled
    engine.reset("image")
    assert engine.count("image") == 0
    engine.upsert("image", keys[:3], vectors[:3])
    assert engine.count("image") == 3


def test_rebuild_replaces_a_space_from_batches_and_saves_it(filled, make_engine):
    engine, keys, vectors = filled
    engine.rebuild("image", 32, iter([(keys[:10], vectors[:10]), (keys[10:20], vectors[10:20])]))
    assert engine.count("image") == 20
    assert engine.search("image", vectors[15], 1)[0].tolist() == [keys[15]]
    engine.close()
    again = make_engine()
    assert again.count("image") == 20 and again.spaces() == {"image": 32}


def test_persists_across_reopen(filled, make_engine):
    engine, keys, vectors = filled
    engine.close()
    again = make_engine()
    assert again.spaces() == {"image": 32}
    assert again.count("image") == 300
    found, _ = again.search("image", vectors[7], 1)
    assert found.tolist() == [keys[7]]


@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_collection_end_to_end(engine_name, tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for name in PICTURES:
        shutil.copy(SKIMAGE_DATA / name, folder / name)
    with Collection.create(tmp_path / "coll", engine=engine_name) as coll:
        report = coll.ingest(str(folder))
        assert report.indexed == len(PICTURES) and not report.failed
        like = coll.search(like="chelsea.png", alpha=1.0, limit=len(PICTURES))
        assert {r.id for r in like} == set(PICTURES) - {"chelsea.png"}
    with Collection.open(tmp_path / "coll", read_only=True) as coll:
        assert coll.stats()["engine"] == engine_name
        assert {name: info["indexed"] for name, info in coll.stats()["spaces"].items()}["visual"] == len(PICTURES)
        hits = coll.search("a rocket on a launch pad", alpha=1.0, keyword=False, limit=3)
        assert hits and all(h.id in PICTURES for h in hits)
        same = coll.search(image=str(folder / "horse.png"), alpha=1.0, limit=1)
        assert same[0].id == "horse.png" and same[0].score > 0.99


@pytest.mark.parametrize("option, said", [("conectivity=8", "no option 'conectivity' (did you mean connectivity?)"),
                                          ("connectivity=abc", "connectivity must be a number"),
                                          ("expansion_search=1.5x", "expansion_search must be a number")])
def test_a_bad_engine_option_is_one_line_and_leaves_no_collection_behind(tmp_path, capsys, option, said):
    """A typo or a word where a number belongs is refused before anything is written: a collection
    recorded with it would fail on every later run, and 'unexpected TypeError' says nothing."""
    from _cli import run_cli

    folder = tmp_path / "pictures"
    folder.mkdir()
    shutil.copy(SKIMAGE_DATA / "coffee.png", folder)
    code, _, err = run_cli(capsys, "ingest", str(folder), "-c", str(tmp_path / "coll"), "--engine-option", option)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1 and said in lines[0] and "unexpected" not in lines[0], err
    assert not (tmp_path / "coll" / "iconodex.db").exists()
    code, _, err = run_cli(capsys, "ingest", str(folder), "-c", str(tmp_path / "coll"), "-q")
    assert code == 0, err  # the same folder, without the bad option, just works
