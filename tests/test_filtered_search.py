"""Filtered search (``where``): exactly the matching items, at the recall of exact filtered search,
whether the filter is narrow (its items scored exactly) or broad (found through the ANN index)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from iconodex import Collection
from iconodex.records import ImageRef, SourceRecord
from iconodex.search.searcher import EXACT_FILTER_BELOW
from iconodex.store import ItemStore
from iconodex.store.filters import FilterCache

N = 3000
SHARES = {"rare": 0.002, "some": 0.1, "most": 0.6}


def _record(rng: np.random.Generator, number: int) -> SourceRecord:
    fields = {name: ["yes" if rng.random() < share else "no"] for name, share in SHARES.items()}
    title = f"Item {number}" + (" lighthouse" if number % 7 == 0 else "")
    return SourceRecord(id=f"item-{number}", image=ImageRef("path", f"/synthetic/{number}.jpg"),
                        title=title, metadata=fields, version="1")


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """``N`` items with clustered vectors in the space more-like-this searches (cut to 64 dims to
    build fast) and three yes/no fields of known shares."""
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("filtered") / "coll"
    with Collection.create(path, dims=64) as coll:
        dims = coll.model.spaces[coll.similar_space]
        centres = rng.standard_normal((30, dims)).astype(np.float32)
        run, _ = coll.store.begin_run("synthetic", "synthetic", "synthetic", {})
        records = [_record(rng, i) for i in range(N)]
        coll.store.upsert_records(records, "synthetic", run)
        keys = list(coll.store.keys_for_ids([r.id for r in records]).values())
        vectors = centres[rng.integers(0, len(centres), N)] + rng.standard_normal((N, dims)).astype(np.float32) * 0.05
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        by_key = dict(zip(keys, vectors, strict=True))  # `image` too: what a text query searches
        coll.commit_chunk({coll.similar_space: by_key, "image": by_key}, keys, {}, {}, [])
        coll.index_keys(keys)
        coll.store.mark_indexed(keys)
        coll.engine.flush()
    coll = Collection.open(path, read_only=True)
    yield coll
    coll.close()


def _exact(coll: Collection, where: dict[str, str], like: str, k: int) -> list[int]:
    allowed = coll.store.filter_keys({name: [value] for name, value in where.items()})
    key = coll.store.keys_for_ids([like])[like]
    allowed = allowed[allowed != key]
    vectors, _ = coll.engine.get(coll.similar_space, allowed)
    query = coll.engine.get(coll.similar_space, np.asarray([key]))[0][0]
    return allowed[np.argsort(-(vectors @ query))[:k]].tolist()


@pytest.fixture(params=["narrow path", "broad path"])
def strategy(request, collection):
    """The same searches with the filter's keys read and scored exactly, and through the ANN index."""
    searcher = collection.searcher
    before = searcher.exact_filter_below
    searcher.exact_filter_below = None if request.param == "narrow path" else 0
    yield collection
    searcher.exact_filter_below = before


@pytest.mark.parametrize("where", [{"some": "yes"}, {"most": "yes"}, {"most": "yes", "some": "no"}])
def test_filtered_results_are_matching_items_at_exact_recall(strategy, where):
    coll = strategy
    allowed = set(coll.store.filter_keys({name: [value] for name, value in where.items()}).tolist())
    hits = total = 0
    for like in (f"item-{i}" for i in range(0, N, 150)):
        found = [r.key for r in coll.search(like=like, where=where, limit=10)]
        assert set(found) <= allowed
        truth = _exact(coll, where, like, 10)
        hits += len(set(found) & set(truth))
        total += len(truth)
    assert hits / total >= 0.95


def test_filter_matching_fewer_items_than_asked_returns_all_of_them(strategy):
    coll = strategy
    allowed = coll.store.filter_keys({"rare": ["yes"]}).tolist()
    assert 0 < len(allowed) < 20
    found = coll.search(like="item-1", where={"rare": "yes"}, limit=50)
    like_key = coll.store.keys_for_ids(["item-1"])["item-1"]
    assert sorted(r.key for r in found) == sorted(set(allowed) - {like_key})


def test_keyword_matches_outside_the_filter_are_left_out(strategy):
    coll = strategy
    allowed = set(coll.store.filter_keys({"some": ["yes"]}).tolist())
    found = coll.search("lighthouse", where={"some": "yes"}, limit=50, min_score=0)
    assert found and {r.key for r in found} <= allowed
    assert any("keyword_rank" in r.scores for r in found)


def test_filter_matching_nothing_returns_nothing(strategy):
    assert strategy.search(like="item-1", where={"some": "maybe"}) == []


@pytest.fixture()
def fresh_filters(collection, monkeypatch):
    """The collection with no filter read yet, and a record of the SQL statements that read
    ``fields`` (what a filter costs)."""
    monkeypatch.setattr(collection.store, "filter_cache", FilterCache())
    statements: list[str] = []
    conn = collection.store.conn
    conn.set_trace_callback(lambda sql: statements.append(sql) if "FROM fields" in sql else None)
    yield collection, statements
    conn.set_trace_callback(None)


def test_a_repeated_narrow_filter_reads_its_keys_once(fresh_filters):
    coll, statements = fresh_filters
    first = coll.search(like="item-3", where={"some": "yes"}, limit=10)
    assert statements
    statements.clear()
    for like in ("item-3", "item-4", "item-5"):
        found = coll.search(like=like, where={"some": "yes"}, limit=10)
        assert len(found) == 10
    assert statements == []
    assert [r.key for r in coll.search(like="item-3", where={"some": "yes"}, limit=10)] == [r.key for r in first]


def test_a_broad_filter_is_read_whole_only_when_it_comes_back(fresh_filters):
    """The first search with a broad filter checks only its candidates in SQLite (no key list);
    the second reads its keys once; later ones run no SQL for it."""
    coll, statements = fresh_filters
    coll.searcher.exact_filter_below = 100
    try:
        runs = []
        for like in ("item-3", "item-4", "item-5", "item-6"):
            statements.clear()
            assert len(coll.search(like=like, where={"most": "yes"}, limit=10)) == 10
            runs.append(list(statements))
    finally:
        coll.searcher.exact_filter_below = EXACT_FILTER_BELOW
    assert runs[0] and all("json_each" in sql or "count(*)" in sql for sql in runs[0])
    assert sum("group_concat" in sql for sql in runs[1]) == 1
    assert runs[2] == runs[3] == []


def test_a_text_search_with_a_new_broad_filter_reads_none_of_its_keys(fresh_filters):
    """Its candidates and its keyword matches are both checked in SQLite: one search asks once."""
    coll, statements = fresh_filters
    coll.searcher.exact_filter_below = 100
    try:
        found = coll.search("lighthouse", where={"most": "yes"}, limit=10, min_score=0)
    finally:
        coll.searcher.exact_filter_below = EXACT_FILTER_BELOW
    assert found and any("keyword_rank" in r.scores for r in found)
    assert statements and not any("group_concat" in sql for sql in statements)


def test_filters_written_differently_share_their_keys_and_each_clause_applies(fresh_filters):
    coll, statements = fresh_filters
    every = coll.store.key_filter({"most": ["yes"], "some": ["yes", "no"]}).keys()
    statements.clear()
    assert np.array_equal(coll.store.key_filter({" Some": ["NO", "yes", "no"], "MOST": ["Yes"]}).keys(), every)
    assert statements == []
    assert len(coll.store.key_filter({"most": ["yes"], "Most": ["no"]}).keys()) == 0


def test_a_narrow_filter_reads_no_more_than_before(fresh_filters):
    coll, statements = fresh_filters
    assert len(coll.search(like="item-3", where={"rare": "yes"}, limit=10)) > 0
    assert sum("group_concat" in sql for sql in statements) == 1


def _writable_collection(path, n: int = 300) -> Collection:
    rng = np.random.default_rng(11)
    coll = Collection.create(path, dims=64)
    _add(coll, rng, range(n))
    return coll


def _add(coll: Collection, rng: np.random.Generator, numbers, fields: dict | None = None) -> list[int]:
    dims = coll.model.spaces[coll.similar_space]
    run, _ = coll.store.begin_run("synthetic", "synthetic", "synthetic", {})
    records = [_record(rng, i) for i in numbers]
    for record in records:
        record.metadata.update(fields or {})
    coll.store.upsert_records(records, "synthetic", run)
    keys = list(coll.store.keys_for_ids([r.id for r in records]).values())
    vectors = rng.standard_normal((len(keys), dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    coll.commit_chunk({coll.similar_space: dict(zip(keys, vectors, strict=True))}, keys, {}, {}, [])
    coll.index_keys(keys)
    coll.store.mark_indexed(keys)
    coll.engine.flush()
    return keys


@pytest.mark.parametrize("below", [None, 0], ids=["narrow path", "broad path"])
def test_a_filtered_search_sees_items_added_and_deleted_after_its_filter_was_read(tmp_path, below):
    with _writable_collection(tmp_path / "coll") as coll:
        coll.searcher.exact_filter_below = below
        where = {"most": "yes", "colour": "teal"}
        for like in ("item-1", "item-2", "item-3"):  # read (and kept) while nothing matches
            assert coll.search(like=like, where=where, limit=50) == []
        added = _add(coll, np.random.default_rng(12), range(1000, 1040), {"most": ["yes"], "colour": ["teal"]})
        for like in ("item-1", "item-2"):
            assert sorted(r.key for r in coll.search(like=like, where=where, limit=50)) == sorted(added)
        coll.delete([f"item-{i}" for i in range(1000, 1020)])
        for like in ("item-1", "item-2"):
            assert sorted(r.key for r in coll.search(like=like, where=where, limit=50)) == sorted(added[20:])


def test_a_filter_sees_what_another_connection_wrote(tmp_path):
    """Another process (here: another store on the same file) or another thread of this one
    writing: the next read of a filter kept by this store sees it."""
    with _writable_collection(tmp_path / "coll") as coll:
        where = {"colour": ["teal"]}
        assert coll.store.key_filter(where).keys().tolist() == []
        other = ItemStore(tmp_path / "coll" / "iconodex.db")
        other.upsert_records([_record(np.random.default_rng(1), 2000)], "synthetic", 1)
        with other.transaction() as conn:
            conn.execute("INSERT INTO fields (key, field, value, label) VALUES (?, 'colour', 'teal', 'Teal')",
                         (other.keys_for_ids(["item-2000"])["item-2000"],))
        other.close()
        assert len(coll.store.key_filter(where).keys()) == 1
        assert coll.store.key_filter(where).mask(coll.store.key_filter(where).keys()).all()
        thread = threading.Thread(target=lambda: coll.store.delete_keys(coll.store.key_filter(where).keys().tolist()))
        thread.start()
        thread.join()
        assert coll.store.key_filter(where).keys().tolist() == []
        assert coll.store.key_filter(where).count() == 0


def test_key_filter_answers_agree_with_the_full_key_list(collection):
    where = {"most": ["yes"], "some": ["yes", "no"]}
    every = np.sort(collection.store.filter_keys(where))
    key_filter = collection.store.key_filter(where)
    assert key_filter.count() == len(every)
    assert key_filter.count(limit=30) == 30
    assert set(key_filter.keys(limit=25).tolist()) <= set(every.tolist()) and len(key_filter.keys(limit=25)) == 25
    probe = np.arange(1, N + 1, dtype=np.int64)
    assert np.array_equal(probe[key_filter.mask(probe)], every)
    assert key_filter.mask(np.zeros(0, dtype=np.int64)).shape == (0,)


def test_a_text_query_where_no_item_has_a_vector_of_its_spaces_answers_without_crashing(tmp_path):
    """Items with vectors only in the more-like-this space: a text query has no vector leg, only
    keyword hits, and must still answer (it once raised IndexError while ranking)."""
    rng = np.random.default_rng(3)
    with Collection.create(tmp_path / "coll", dims=64) as coll:
        _add(coll, rng, range(20))
        assert "image" not in coll.spaces and "text" not in coll.spaces
        assert coll.search("lighthouse", min_score=0) == []
