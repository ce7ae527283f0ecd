"""A server prepares its index for reads at start, so a served ``like`` gathers its item's and
candidates' vectors from the mapped file instead of asking USearch for them key by key."""

from __future__ import annotations

import time

import pytest
from _index_helpers import synthetic_collection
from _serve_fixtures import serve
from usearch.index import Index

from iconodex import Collection
from iconodex.serve import ServeSettings


@pytest.fixture(scope="module")
def collection_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("reads") / "coll"
    synthetic_collection(path, items=120).close()
    return path


@pytest.fixture
def key_by_key_reads(monkeypatch):
    """Keys asked of ``Index.get`` (USearch's per-key read), from any thread."""
    asked: list[int] = []
    real = Index.get

    def counting(self, keys, *args, **kwargs):
        asked.append(len(keys) if hasattr(keys, "__len__") else 1)
        return real(self, keys, *args, **kwargs)
    monkeypatch.setattr(Index, "get", counting)
    return asked


def test_after_warming_a_like_reads_no_vector_key_by_key(collection_path, key_by_key_reads):
    with Collection.open(collection_path, read_only=True) as coll:
        coll.engine.warm()
        key_by_key_reads.clear()
        results = coll.search(like="item-00007", limit=20)
        assert len(results) == 20 and {"like:visual", "like:text"} <= set(results[0].scores)
        assert key_by_key_reads == []


def test_warming_skips_a_damaged_space_and_the_search_still_answers(tmp_path):
    path = tmp_path / "coll"
    synthetic_collection(path, items=60).close()
    damaged = next((path / "index").glob("text.*.usearch"))
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    with Collection.open(path, read_only=True) as coll:
        coll.engine.warm()
        assert "text" in coll.engine.problems()
        assert len(coll.search(like="item-00007", limit=10)) == 10


def test_a_server_prepares_its_index_reads_at_start(collection_path, key_by_key_reads):
    with Collection.open(collection_path, read_only=True) as coll, \
            serve(coll, ServeSettings(load_model=False, answer_cache_mb=0)) as server, server.client() as client:
        deadline = time.monotonic() + 20
        while True:  # the check and the warming run in the background after start-up
            key_by_key_reads.clear()
            answer = client.get("/search", params={"like": f"item-{int(time.monotonic() * 1000) % 100:05d}"})
            assert answer.status_code == 200, answer.text
            if not key_by_key_reads:
                break
            assert time.monotonic() < deadline, f"a served like still reads key by key: {key_by_key_reads}"
            time.sleep(0.05)


@pytest.fixture
def hand_offs(monkeypatch):
    """Calls handed from the event loop to a worker thread (Starlette's and the search pool's)."""
    import anyio.to_thread

    handed: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(func, *args, **kwargs):
        handed.append(getattr(func, "__name__", type(func).__name__))
        return await real(func, *args, **kwargs)
    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return handed


@pytest.mark.parametrize("private", [False, True])
def test_a_served_read_hands_its_work_to_a_worker_thread_once(collection_path, hand_offs, private):
    """The key check runs on the event loop: a thread hand-off per request costs more than it does."""
    settings = ServeSettings(load_model=False, answer_cache_mb=0, private=private, api_key="k" if private else None)
    headers = {"X-API-Key": "k"} if private else {}
    with Collection.open(collection_path, read_only=True) as coll, serve(coll, settings) as server, \
            server.client(headers=headers) as client:
        for path, params in (("/search", {"like": "item-00003"}), ("/items/item-00003", {})):
            hand_offs.clear()
            assert client.get(path, params=params).status_code == 200
            assert len(hand_offs) == 1, (path, hand_offs)
        if private:
            refused = client.get("/search", params={"like": "item-00003"}, headers={"X-API-Key": "wrong"})
            assert refused.status_code == 403
