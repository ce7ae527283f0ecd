"""The SQLite store: upserts, change detection, filters, keyword search on odd input."""

from __future__ import annotations

import pytest

from iconodex.records import ImageRef, SourceRecord
from iconodex.store import ItemStore
from iconodex.store.text import keyword_match


@pytest.fixture
def store(tmp_path):
    s = ItemStore(tmp_path / "db.sqlite")
    yield s
    s.close()


def record(item_id: str, title: str = "A title", image: str | None = "/x.jpg", **metadata) -> SourceRecord:
    return SourceRecord(id=item_id, image=ImageRef("path", image) if image else None, title=title,
                        metadata={k: list(v) for k, v in metadata.items()})


def pending_ids(store: ItemStore) -> dict[str, tuple[bool, bool]]:
    return {w.id: (w.need_image, w.need_text) for w in store.pending(100)}


def test_upsert_counts_and_change_detection(store):
    counts = store.upsert_records([record("a"), record("b")], "src", run=1)
    assert (counts.added, counts.updated, counts.unchanged) == (2, 0, 0)
    store.save_chunk({}, [k for k in store.keys_for_ids(["a", "b"]).values()], {}, {})

    counts = store.upsert_records([record("a"), record("b", title="New title")], "src", run=2)
    assert (counts.added, counts.updated, counts.unchanged) == (0, 1, 1)
    # only b is pending again, and only its text must be re-embedded
    assert pending_ids(store) == {"b": (False, True)}

    store.upsert_records([record("a", image="/other.jpg")], "src", run=3)
    assert pending_ids(store)["a"] == (True, False)


def test_failed_items_are_retried(store):
    store.upsert_records([record("a")], "src", run=1)
    key = store.keys_for_ids(["a"])["a"]
    store.save_chunk({}, [], {key: "fetch: HTTP 503"}, {})
    assert store.failures()[0].error == "fetch: HTTP 503"
    counts = store.upsert_records([record("a")], "src", run=2)
    assert (counts.updated, counts.retried) == (0, 1) and pending_ids(store) == {"a": (True, True)}


def test_stale_keys_are_those_not_seen(store):
    store.upsert_records([record("a"), record("b"), record("c")], "src", run=1)
    store.upsert_records([record("other")], "elsewhere", run=1)
    store.upsert_records([record("a"), record("c")], "src", run=2)
    stale = store.stale_keys("src", 2)
    assert [store.get_many(stale)[k].id for k in stale] == ["b"]
    store.delete_keys(stale)
    assert store.get("b") is None and store.keyword_search("title", 10)


def test_filters_match_prefixed_fields_case_insensitively(store):
    store.upsert_records([
        record("a", **{"dcterms:creator": ["Hokusai"], "dcterms:subject": ["wave", "sea"]}),
        record("b", **{"dcterms:creator": ["Hiroshige"], "dcterms:subject": ["sea"]}),
    ], "src", run=1)
    keys = store.keys_for_ids(["a", "b"])
    assert store.filter_keys({"creator": ["hokusai"]}).tolist() == [keys["a"]]
    assert store.filter_keys({"dcterms:Creator": ["HOKUSAI"]}).tolist() == [keys["a"]]
    assert sorted(store.filter_keys({"subject": ["sea"]}).tolist()) == sorted(keys.values())
    assert store.filter_keys({"subject": ["sea"], "creator": ["Hiroshige"]}).tolist() == [keys["b"]]
    assert store.facets("subject") == [("sea", 2), ("wave", 1)]


@pytest.mark.parametrize("query", ['"', "AND (", "NEAR(", "*", "a OR", "title:x", "'; DROP TABLE items; --",
                                   "😀 cat", "  ", "-", "^x", "a" * 5000, "château"])
def test_keyword_search_never_fails_on_odd_input(store, query):
    store.upsert_records([record("a", title="Le château de Versailles", description=["castle near Paris"])],
                         "src", run=1)
    assert isinstance(store.keyword_search(query, 5), list)


def test_keyword_search_ranks_and_folds_diacritics(store):
    store.upsert_records([record("a", title="Chateau de Chillon"), record("b", title="Lake Geneva")], "src", run=1)
    assert [store.get_many([k])[k].id for k in store.keyword_search("château", 5)] == ["a"]
    assert keyword_match("the of and") == ""


def test_facets_show_values_as_written_and_only_fields_that_repeat(store):
    store.upsert_records([
        record("a", creator=["NASA"], description=["Launch pad at dawn"]),
        record("b", creator=["NASA"], description=["A rover on Mars"]),
        record("c", creator=["SpaceX"], description=["A rocket"]),
    ], "src", run=1)
    assert store.facets("creator") == [("NASA", 2), ("SpaceX", 1)]
    assert [name for name, _ in store.facet_fields()] == ["creator"]  # descriptions never repeat
