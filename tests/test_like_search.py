"""More like this, done with the least work: one index walk, no vector read back that the walk
already scored, no fusion arithmetic for a single leg, and the result rows read once."""

from __future__ import annotations

import numpy as np
import pytest

from iconodex import Collection
from iconodex.records import ImageRef, SourceRecord
from iconodex.search.hybrid import Leg, LegScale, calibrated_fuse, fuse, leg_similarities

N = 400
DIMS = 32


def _build(path, *, text_every: int = 1, engine_options: dict | None = None) -> None:
    """``N`` items with clustered vectors in the picture space and (for every ``text_every``-th item)
    in the catalogue space."""
    rng = np.random.default_rng(11)
    with Collection.create(path, dims=DIMS, engine_options=engine_options) as coll:
        run, _ = coll.store.begin_run("synthetic", "synthetic", "synthetic", {})
        records = [SourceRecord(id=f"item-{i}", image=ImageRef("path", f"/synthetic/{i}.jpg"), title=f"Item {i}",
                                version="1") for i in range(N)]
        coll.store.upsert_records(records, "synthetic", run)
        keys = list(coll.store.keys_for_ids([r.id for r in records]).values())
        vectors = {}
        for space, count in ((coll.similar_space, N), ("text", len(keys[::text_every]))):
            centres = rng.standard_normal((8, DIMS)).astype(np.float32)
            made = centres[rng.integers(0, 8, count)] + rng.standard_normal((count, DIMS)).astype(np.float32) * 0.3
            vectors[space] = dict(zip(keys[:: 1 if count == N else text_every], made / np.linalg.norm(
                made, axis=1, keepdims=True), strict=True))
        coll.commit_chunk(vectors, keys, {}, {}, [])
        coll.index_keys(keys)
        coll.store.mark_indexed(keys)
        coll.engine.flush()


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """Every item has a picture and a catalogue vector."""
    path = tmp_path_factory.mktemp("like") / "coll"
    _build(path)
    with Collection.open(path, read_only=True) as coll:
        yield coll


@pytest.fixture
def counted(collection, monkeypatch):
    """The collection with its engine's walks and vector reads counted: (space, keys asked)."""
    calls: dict[str, list[tuple[str, int]]] = {"search": [], "get": []}
    engine = collection.engine
    for name in calls:
        real = getattr(engine, name)

        def counting(space, keys_or_query, *args, _real=real, _name=name):
            calls[_name].append((space, len(keys_or_query) if _name == "get" else 1))
            return _real(space, keys_or_query, *args)
        monkeypatch.setattr(engine, name, counting)
    return collection, calls


def _exact_top(coll: Collection, like: str, space: str, k: int) -> list[int]:
    key = coll.store.keys_for_ids([like])[like]
    keys, vectors = coll.store.vectors_for(space, list(coll.store.keys_for_ids([f"item-{i}" for i in range(N)]).values()))
    query = vectors[list(keys).index(key)]
    order = [int(keys[i]) for i in np.argsort(-(vectors @ query)) if int(keys[i]) != key]
    return order[:k]


def _walk_depths(coll: Collection, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The k of every index walk ``coll`` makes from now on."""
    depths: list[int] = []
    real = coll.engine.search

    def recording(space, query, k, *args):
        depths.append(k)
        return real(space, query, k, *args)
    monkeypatch.setattr(coll.engine, "search", recording)
    return depths


def test_like_over_picture_and_catalogue_walks_the_index_once(counted):
    coll, calls = counted
    results = coll.search(like="item-5", limit=10)
    assert len(results) == 10 and "item-5" not in [r.id for r in results]
    assert len(calls["search"]) == 1, calls["search"]
    assert {"like:visual", "like:text"} <= set(results[0].scores)  # both legs still score every result


def test_like_reads_back_only_the_leg_it_did_not_walk(counted):
    coll, calls = counted
    coll.search(like="item-7", limit=10)
    walked = calls["search"][0][0]
    reads = [space for space, asked in calls["get"] if asked > 1]  # the item's own vectors are 1 key each
    assert walked not in reads and len(reads) == 1, calls["get"]


def test_picture_only_like_reads_no_candidate_vectors_and_ranks_exactly(counted):
    coll, calls = counted
    results = coll.search(like="item-9", alpha=1.0, limit=10)
    assert len(calls["search"]) == 1 and [asked for _, asked in calls["get"]] == [1], calls
    assert [r.key for r in results] == _exact_top(coll, "item-9", coll.similar_space, 10)
    assert set(results[0].scores) == {"like:visual"} and results[0].score == results[0].scores["like:visual"]


def test_a_single_leg_walks_only_as_deep_as_its_page(collection, monkeypatch):
    """One leg with nothing to fuse or merge ranks as its walk did: the page is the walk's top."""
    depths = _walk_depths(collection, monkeypatch)
    results = collection.search(like="item-9", alpha=1.0, limit=10, offset=5)
    assert depths == [16]  # offset 5 + 10 shown + the item itself
    assert [r.key for r in results] == _exact_top(collection, "item-9", collection.similar_space, 15)[5:]
    depths.clear()
    collection.search(like="item-9", limit=10)  # two legs re-score each other's candidates: a deeper pool
    assert depths == [50]


def test_a_fused_page_draws_on_two_candidates_per_result(collection, monkeypatch):
    depths = _walk_depths(collection, monkeypatch)
    collection.search(like="item-9", limit=20)
    collection.search(like="item-9", limit=40)
    assert depths == [50, 82]  # at least 50; 2 per result shown (and the item itself) beyond that


def test_like_still_finds_items_without_catalogue_text(tmp_path):
    """Where some items have no catalogue vector, the catalogue walk cannot reach them: the picture
    is walked too, so a picture-only item still comes up."""
    _build(tmp_path / "coll", text_every=2)
    with Collection.open(tmp_path / "coll", read_only=True) as coll:
        spaces = coll.engine.count("text"), coll.engine.count(coll.similar_space)
        assert spaces == (N // 2, N)
        found = [r for r in coll.search(like="item-4", limit=30)]
        assert any("like:text" not in r.scores for r in found)


def test_a_rounded_index_s_walk_proposes_but_the_stored_vectors_score(tmp_path):
    """An f16 index keeps rounded vectors: its walk's similarities are not the scores."""
    _build(tmp_path / "coll", engine_options={"dtype": "f16"})
    with Collection.open(tmp_path / "coll", read_only=True) as coll:
        results = coll.search(like="item-9", alpha=1.0, limit=10)
        key = coll.store.keys_for_ids(["item-9"])["item-9"]
        found, vectors = coll.store.vectors_for(coll.similar_space, [key, *(r.key for r in results)])
        row = {int(k): i for i, k in enumerate(found)}
        query = vectors[row[key]]
        exact = [vectors[row[r.key]] @ query for r in results]
        assert [r.score for r in results] == [round(float(s), 6) for s in exact]
        walked = coll.engine.search(coll.similar_space, query, 11)[1][1:]
        assert not np.allclose(walked, exact, rtol=0, atol=1e-6)  # the walk's own were rounded


def test_a_rounded_index_proposes_four_candidates_per_result_for_rescoring(tmp_path, monkeypatch):
    """The f16/i8 recall figures were measured rescoring 4 candidates per result: a single rounded
    leg still walks that deep, since its walk's order is not the ranking."""
    _build(tmp_path / "coll", engine_options={"dtype": "f16"})
    with Collection.open(tmp_path / "coll", read_only=True) as coll:
        depths = _walk_depths(coll, monkeypatch)
        coll.search(like="item-9", alpha=1.0, limit=10)
        coll.search(like="item-9", alpha=1.0, limit=20)
        assert depths == [50, 84]


@pytest.mark.parametrize("fusion", [calibrated_fuse, fuse])
def test_a_single_leg_fused_score_is_its_similarity(collection, fusion):
    coll = collection
    query = coll.engine.get("text", np.asarray([3]))[0][0]
    keys = np.arange(1, N + 1)
    leg = [Leg("like:text", "text", query, 0.5)]
    sims = leg_similarities(coll.engine, leg, keys)
    measured = {"like:text": LegScale(0.3127, 0.0419, 1.7)}
    assert np.array_equal(fusion(leg, sims, measured) if fusion is calibrated_fuse else fusion(leg, sims),
                          sims["like:text"], equal_nan=True)


def test_a_lone_exact_leg_is_ranked_in_its_walk_s_order_without_pooling_or_rescoring(collection, monkeypatch):
    """The walk of one exact leg already holds each candidate's similarity, best first: pooling its
    keys and looking their similarities up again is work that changes nothing."""
    import iconodex.search.searcher as searcher

    steps: list[str] = []
    for name in ("pooled", "leg_similarities"):
        real = getattr(searcher, name)
        monkeypatch.setattr(searcher, name, lambda *args, _real=real, _name=name: steps.append(_name) or _real(*args))
    results = collection.search(like="item-9", alpha=1.0, limit=10)
    assert steps == []
    assert [r.key for r in results] == _exact_top(collection, "item-9", collection.similar_space, 10)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    assert all(r.score == r.scores["like:visual"] for r in results)
    collection.search(like="item-9", limit=10)  # two legs: the pool and the other leg's similarities
    assert steps == ["pooled", "leg_similarities"]
