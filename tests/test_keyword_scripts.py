"""The keyword leg in scripts written without spaces (Japanese, Chinese, Thai) and in Korean, whose
particles cling to the noun: a word tokenizer sees a whole title as one word and finds nothing.
Real collections, ingested from a folder with JSON sidecars, searched through the public API."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iconodex import Collection
from iconodex.records import SourceRecord
from iconodex.store import ItemStore
from iconodex.store.migrations import SCHEMA_VERSION

# picture → its catalogue entry; the pictures are the demo's, the titles say what a cataloguer might
CATALOGUE = {
    "chelsea.png": {"title": "東京タワーと猫の写真", "subject": "東京の夜景"},       # Japanese
    "page.png": {"title": "京都の金閣寺"},                                     # Japanese
    "moon.png": {"title": "长城上的日出", "description": "中国北京"},           # Chinese
    "coffee.png": {"title": "고양이가 창가에서 자고 있다"},                     # Korean
    "horse.png": {"title": "แมวนอนบนเก้าอี้"},                                # Thai
    "camera.png": {"title": "東京"},                                           # one word, either index finds it
    "rocket.jpg": {"title": "Lighthouse at dusk", "subject": "coast"},
}
WITH_NGRAMS = 6  # the items above with text in a script without spaces

DB = "iconodex.db"


@pytest.fixture(scope="module")
def built(sample_pictures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collection of the pictures above, ingested once, closed: tests open or copy it."""
    folder = tmp_path_factory.mktemp("scripts") / "pictures"
    folder.mkdir()
    for name, entry in CATALOGUE.items():
        shutil.copy2(sample_pictures / name, folder / name)
        (folder / f"{Path(name).stem}.json").write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
    path = folder.parent / "coll"
    with Collection.create(path) as coll:
        report = coll.ingest(str(folder))
        assert coll.store.status_counts()["indexed"] == len(CATALOGUE), report
    return path


@pytest.fixture(scope="module")
def collection(built: Path) -> Collection:
    coll = Collection.open(built, read_only=True)
    yield coll
    coll.close()


def keyword_hits(coll: Collection, text: str) -> list[tuple[str, int]]:
    """(id, keyword rank) of the results the keyword leg found, in result order."""
    return [(hit.id, hit.scores["keyword_rank"]) for hit in coll.search(text, limit=len(CATALOGUE))
            if "keyword_rank" in hit.scores]


@pytest.mark.parametrize(("query", "target"), [
    ("猫", "chelsea.png"),            # Japanese, one character, inside a title
    ("金閣寺", "page.png"),           # Japanese, three characters
    ("夜景", "chelsea.png"),          # Japanese, in a metadata field
    ("长城", "moon.png"),             # Chinese, two characters
    ("北京", "moon.png"),             # Chinese, in the description
    ("고양이", "coffee.png"),         # Korean: 고양이가 = 고양이 + subject particle
    ("แมว", "horse.png"),             # Thai
    ("ﾀﾜｰ", "chelsea.png"),           # half-width katakana folded onto タワー
])
def test_a_word_of_the_title_finds_the_item_by_keyword(collection, query, target):
    results = collection.search(query, limit=3)
    assert results[0].id == target
    assert results[0].scores["keyword_rank"] == 1


def test_item_found_by_both_indexes_counts_once(collection):
    # 東京 is a whole word of camera.png's title (word index and n-gram index) and a part of
    # chelsea.png's (n-gram index only): each appears once, the one both found first
    assert keyword_hits(collection, "東京") == [("camera.png", 1), ("chelsea.png", 2)]
    keys = collection.store.keyword_search("東京", 10)
    assert len(keys) == len(set(keys)) == 2


def test_latin_words_use_the_word_index_and_mix_with_other_scripts(collection):
    assert keyword_hits(collection, "lighthouse") == [("rocket.jpg", 1)]
    mixed = keyword_hits(collection, "coast 고양이")  # one word per index
    assert {item for item, _ in mixed} == {"rocket.jpg", "coffee.png"}


def test_collection_made_by_the_old_schema_is_migrated_on_open(built, tmp_path, caplog):
    path = tmp_path / "old"
    shutil.copytree(built, path)
    with sqlite3.connect(path / DB) as conn:  # the schema as first released: no n-gram index, version 1
        conn.execute("DROP TABLE fts_grams")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
        before = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                  for table in ("items", "fields", "fts", "vectors")}
    conn.close()

    with caplog.at_level(logging.WARNING), Collection.open(path, read_only=True) as old:  # as a server opens it
        assert keyword_hits(old, "lighthouse") == [("rocket.jpg", 1)]
        assert keyword_hits(old, "猫") == []  # no index yet, and no error
    assert "open it once for writing" in caplog.text

    for _ in range(2):  # migrating is idempotent: a second open changes nothing
        Collection.open(path).close()
        with sqlite3.connect(path / DB) as conn:
            after = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in before}
            assert after == before
            assert conn.execute("SELECT count(*) FROM fts_grams").fetchone()[0] == WITH_NGRAMS
            assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
        conn.close()
    with Collection.open(path, read_only=True) as migrated:
        assert keyword_hits(migrated, "猫") == [("chelsea.png", 1)]
        assert migrated.search("猫")[0].id == "chelsea.png"


def test_changed_and_deleted_items_leave_the_ngram_index(tmp_path):
    store = ItemStore(tmp_path / DB)
    store.upsert_records([SourceRecord(id="a", image=None, title="大阪城の桜"), SourceRecord(id="b", image=None, title="Osaka")], "s", run=1)
    key = store.keys_for_ids(["a"])["a"]
    assert store.keyword_search("大阪", 5) == [key]
    store.upsert_records([SourceRecord(id="a", image=None, title="名古屋城")], "s", run=2)
    assert store.keyword_search("大阪", 5) == [] and store.keyword_search("名古屋", 5) == [key]
    store.delete_keys([key])
    assert store.keyword_search("名古屋", 5) == []
    store.close()


UNSPACED_OR_SYNTAX = st.sampled_from(list("猫東京カナ한국어แมว\"'(){}:*^-+ ＂｛ｘ") + [" OR ", " NEAR ", "AND"])


@pytest.fixture(scope="module")
def odd_input_store(tmp_path_factory: pytest.TempPathFactory) -> ItemStore:
    store = ItemStore(tmp_path_factory.mktemp("odd") / DB)
    store.upsert_records([SourceRecord(id="a", image=None, title="東京の猫 고양이 แมว")], "s", run=1)
    yield store
    store.close()


@settings(max_examples=150, deadline=None)
@given(text=st.lists(UNSPACED_OR_SYNTAX, max_size=40).map("".join))
def test_ngram_query_is_never_an_fts_syntax_error(odd_input_store, text):
    assert isinstance(odd_input_store.keyword_search(text, 5), list)
