"""The answer cache: repeated reads are answered from it, and never outlive a change to the collection,
whoever makes it (the server itself, or another process writing the same store)."""

from __future__ import annotations

import shutil

import pytest
from _serve_fixtures import SKIMAGE_DATA, picture_folder, serve

from iconodex import Collection
from iconodex.serve import ServeSettings

KEY = "cache-test-key"
CACHE = "x-iconodex-cache"


@pytest.fixture(scope="module")
def coll(tmp_path_factory) -> Collection:
    """A collection of its own: these tests change it."""
    root = tmp_path_factory.mktemp("answer-cache")
    coll = Collection.create(root / "coll")
    assert not coll.ingest(str(picture_folder(root))).failed
    yield coll
    coll.close()


@pytest.fixture(scope="module")
def client(coll):
    with serve(coll, ServeSettings(api_key=KEY)) as running, running.client() as client:
        yield client


def ids(response) -> list[str]:
    return [result["id"] for result in response.json()["results"]]


def test_a_repeated_search_is_answered_from_the_cache(client):
    params = {"q": "a cat on a sofa", "min_score": 0, "limit": 5}
    first, second = client.get("/search", params=params), client.get("/search", params=params)
    assert first.status_code == second.status_code == 200
    assert (first.headers[CACHE], second.headers[CACHE]) == ("miss", "hit")
    assert second.content == first.content
    other = client.get("/search", params={**params, "limit": 4})
    assert other.headers[CACHE] == "miss" and len(ids(other)) == 4


def test_errors_are_not_kept(client):
    for _ in range(2):
        missing = client.get("/items/no-such-item")
        assert missing.status_code == 404 and missing.headers[CACHE] == "miss"


def test_a_delete_by_another_process_is_seen_at_the_next_request(client, coll):
    """Another handle on the store (as ``iconodex delete`` in another process) changes it."""
    params = {"like": "chelsea.png", "alpha": 1, "limit": 7}
    before = ids(client.get("/search", params=params))
    assert client.get("/search", params=params).headers[CACHE] == "hit"
    assert client.get("/items/coffee.png").status_code == 200
    with Collection.open(coll.path) as other:
        assert other.delete(["coffee.png"]) == 1
    after = client.get("/search", params=params)
    assert after.headers[CACHE] == "miss"
    assert "coffee.png" in before and "coffee.png" not in ids(after)
    assert client.get("/items/coffee.png").status_code == 404


def test_an_ingest_by_another_handle_is_found_by_the_same_query_next(client, coll, tmp_path):
    """A cached 'no good match' must not hide an item ingested since (a write by this server)."""
    params = {"q": "zanzibar lighthouse", "alpha": 0, "limit": 5}
    assert "lighthouse.png" not in ids(client.get("/search", params=params))
    assert client.get("/search", params=params).headers[CACHE] == "hit"
    shutil.copy(SKIMAGE_DATA / "rocket.jpg", tmp_path / "lighthouse.jpg")
    (tmp_path / "lighthouse.json").write_text('{"title": "Zanzibar lighthouse"}')
    with Collection.open(coll.path) as other:
        assert other.ingest(str(tmp_path)).added == 1
    found = ids(client.get("/search", params=params))
    assert any(item.endswith("lighthouse.jpg") for item in found)


def test_the_key_holder_and_the_public_get_their_own_answers(client):
    keyed = client.get("/items/horse.png", headers={"X-API-Key": KEY})
    assert "source" in keyed.json()
    for _ in range(2):
        public = client.get("/items/horse.png")
        assert "source" not in public.json()


def test_sari_urls_follow_the_host_asked_for(client):
    """SARI's answer holds absolute URLs of local pictures: an answer for one host is not another's."""
    params = {"str": "a cat", "minScore": 0, "limit": 1}
    one = client.get("/query", params=params, headers={"Host": "one.example"}).json()
    two = client.get("/query", params=params, headers={"Host": "two.example"}).json()
    assert one[0]["url"].startswith("http://one.example/") and two[0]["url"].startswith("http://two.example/")


def test_a_private_server_never_answers_from_the_cache_without_the_key(coll):
    with serve(coll, ServeSettings(api_key=KEY, private=True)) as running, running.client() as client:
        params = {"like": "horse.png"}
        for _ in range(2):
            assert client.get("/search", params=params, headers={"X-API-Key": KEY}).status_code == 200
        assert client.get("/search", params=params, headers={"X-API-Key": KEY}).headers[CACHE] == "hit"
        assert client.get("/search", params=params).status_code == 401
        assert client.get("/search", params=params, headers={"X-API-Key": "guess"}).status_code == 403


def test_no_cache_when_turned_off(coll):
    with serve(coll, ServeSettings(answer_cache_mb=0)) as running, running.client() as client:
        for _ in range(2):
            assert CACHE not in client.get("/search", params={"like": "horse.png"}).headers
