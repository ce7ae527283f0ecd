"""What is particular to the Milvus engine, against a real Milvus server started once per session
(the shared contract, on Milvus Lite, is in test_engines_contract.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from _net import free_port
from _servers_milvus import MilvusProcess
from hypothesis import given, settings
from hypothesis import strategies as st

from iconodex import Collection
from iconodex.cli import main
from iconodex.errors import ConfigError, IndexEngineError
from iconodex.index import ENGINES
from iconodex.index.milvus_engine import MilvusEngine
from iconodex.ingest import pipeline

pymilvus = pytest.importorskip("pymilvus")


def unit(rows: int, dims: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory) -> MilvusProcess:
    server = MilvusProcess(tmp_path_factory.mktemp("milvus"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server_engine(milvus_server, request, tmp_path):
    """An engine on the shared server, in collections of its own (named after the test)."""
    name = "t_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:60]
    engine = MilvusEngine(tmp_path, uri=milvus_server.uri, collection_name=name)
    yield engine
    engine.close()


def test_the_contract_on_a_real_server(server_engine, milvus_server, tmp_path, monkeypatch):
    engine = server_engine
    engine.ensure_space("image", 16)
    keys = np.arange(1, 201, dtype=np.int64)
    vectors = unit(200, 16, seed=1)
    engine.upsert("image", keys, vectors)
    replaced = unit(10, 16, seed=5)
    engine.upsert("image", keys[:10], replaced)  # replaced, not duplicated
    assert engine.spaces() == {"image": 16} and engine.count("image") == 200
    stored, present = engine.get("image", np.asarray([1, 999, 11]))
    assert present.tolist() == [True, False, True]
    np.testing.assert_allclose(stored[[0, 2]], [replaced[0], vectors[10]], atol=1e-5)
    query = unit(1, 16, seed=2)[0]
    current = vectors.copy()
    current[:10] = replaced
    found, scores = engine.search("image", query, 5)
    want = np.argsort(-(current @ query))[:5] + 1
    assert found.tolist() == want.tolist()
    np.testing.assert_allclose(scores, np.sort(current @ query)[::-1][:5], atol=1e-4)
    allowed = np.asarray([3, 40, 41, 150], dtype=np.int64)
    found, _ = engine.search("image", query, 10, allowed)  # pushed down as an id filter
    assert sorted(found.tolist()) == sorted(allowed.tolist())
    monkeypatch.setattr("iconodex.index.milvus_engine.FILTER_CHUNK", 20)
    allowed = keys[keys % 3 == 0]  # 66 keys: four expressions, each chunk's best merged
    found, scores = engine.search("image", query, 10, allowed)
    assert found.tolist() == allowed[np.argsort(-(current[allowed - 1] @ query))[:10]].tolist()
    many, _ = engine.search_many("image", current[:3], 4)
    assert many[:, 0].tolist() == [1, 2, 3]
    engine.delete("image", keys[:50])
    assert engine.count("image") == 150
    engine.reset("image")  # what verify_index does before rebuilding a space from the store
    engine.upsert("image", keys[:3], vectors[:3])
    assert engine.count("image") == 3 and engine.search("image", vectors[1], 1)[0].tolist() == [2]
    # A second client (another process, in real life) sees the same spaces and vectors.
    again = MilvusEngine(tmp_path, uri=milvus_server.uri, collection_name=engine.prefix[:-2])
    assert again.spaces() == {"image": 16} and again.count("image") == 3
    again.close()


def test_one_milvus_collection_per_space_with_a_reversible_name(tmp_path):
    engine = MilvusEngine(tmp_path / "index", collection_name="museum")  # Milvus Lite: only the API matters
    engine.ensure_space("visual", 8)
    engine.ensure_space("text_fr-2", 4)
    engine.client.create_collection("museum__not_ours", dimension=4)  # same prefix, not an encoded name
    assert set(engine.client.list_collections()) >= {"museum__visual", "museum__text_5ffr_2d2"}
    described = engine.client.describe_collection("museum__visual")
    assert {f["name"] for f in described["fields"]} == {"id", "vector"}
    engine.close()
    again = MilvusEngine(tmp_path / "index", collection_name="museum")
    assert again.spaces() == {"visual": 8, "text_fr-2": 4}
    again.close()
    assert (tmp_path / "index" / "milvus.db").exists()


def test_a_down_server_is_one_line_naming_the_uri(tmp_path):
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(IndexEngineError, match=f"Milvus at {uri}") as raised:
        MilvusEngine(tmp_path, uri=uri)
    assert "\n" not in str(raised.value)
    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "a.txt").write_text("not a picture")
    completed = subprocess.run(
        [sys.executable, "-m", "iconodex", "ingest", str(folder), "-c", str(tmp_path / "coll"), "--quiet",
         "--engine", "milvus", "--engine-option", f"uri={uri}"], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert completed.returncode == 2
    assert completed.stderr.strip().startswith("error: cannot reach Milvus at " + uri)
    assert len(completed.stderr.strip().splitlines()) == 1 and "Traceback" not in completed.stderr


def test_bad_options_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="collection_name"):
        MilvusEngine(tmp_path, collection_name="my-museum")
    with pytest.raises(ConfigError, match="database needs a server"):
        MilvusEngine(tmp_path, database="art")


def test_token_is_never_logged(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("MILVUS_TOKEN", "root:s3cret")
    uri = f"http://user:pw@127.0.0.1:{free_port()}"
    with caplog.at_level("DEBUG"), pytest.raises(IndexEngineError) as raised:
        MilvusEngine(tmp_path, uri=uri)
    text = caplog.text + str(raised.value)
    assert "127.0.0.1" in text and "s3cret" not in text and "pw@" not in text


def _milvus_keys(uri: str, name: str) -> list[int]:
    client = pymilvus.MilvusClient(uri=uri)
    rows = client.query(name, filter="id >= 0", output_fields=["id"], limit=16_384, consistency_level="Strong")
    client.close()
    return [row["id"] for row in rows]


def test_kill_9_mid_ingest_then_rerun_indexes_every_item_once(milvus_server, pictures, tmp_path, monkeypatch):
    """The server dies (SIGKILL) after the first index batch of an ingest; once it is back, the same
    ingest finishes and every item is in Milvus exactly once."""
    monkeypatch.setattr(pipeline, "INDEX_EVERY_ITEMS", 4)  # index after every chunk, as a large ingest does
    options = {"uri": milvus_server.uri, "collection_name": "crash"}
    coll = Collection.create(tmp_path / "coll", engine="milvus", engine_options=options, settings={"chunk_size": 4})
    mark_indexed = coll.store.mark_indexed
    batches: list[int] = []

    def kill_after_first_batch(keys):
        mark_indexed(keys)
        batches.append(len(keys))
        if len(batches) == 1:
            milvus_server.kill()

    monkeypatch.setattr(coll.store, "mark_indexed", kill_after_first_batch)
    with pytest.raises(IndexEngineError, match=f"Milvus at {milvus_server.uri}") as raised:
        coll.ingest(str(pictures))
    assert "\n" not in str(raised.value)
    coll.close()
    assert batches == [4]

    milvus_server.start()
    with Collection.open(tmp_path / "coll", settings={"chunk_size": 4}) as coll:
        report = coll.ingest(str(pictures))
        total = coll.stats()["items"]
        assert coll.indexed_count() == total == 20 and not report.failed
        for space in coll.spaces:
            assert coll.engine.count(space) == coll.store.vector_counts(space)[0]
            keys = _milvus_keys(milvus_server.uri, "crash__" + space)
            assert len(keys) == len(set(keys)) == coll.store.vector_counts(space)[0]
        hits = coll.search(like="chelsea.png", alpha=1.0, limit=20)
        assert len({h.id for h in hits}) == len(hits) == 19


def test_reindex_moves_an_embedded_collection_to_milvus(milvus_server, sample_pictures, tmp_path, capsys):
    path = tmp_path / "coll"
    with Collection.create(path) as coll:
        coll.ingest(str(sample_pictures))
        before = [(h.id, round(h.score, 4)) for h in coll.search(like="chelsea.png", alpha=1.0, limit=5)]
        counts = {space: info["indexed"] for space, info in coll.stats()["spaces"].items()}
    with pytest.raises(SystemExit) as stopped:
        main(["reindex", "-c", str(path), "--engine", "milvus", "--engine-option", f"uri={milvus_server.uri}",
              "--engine-option", "collection_name=moved", "--json"])
        raise SystemExit(0)
    out, err = capsys.readouterr()
    assert (stopped.value.code or 0) == 0, err
    assert json.loads(out) == {"engine": "milvus", "spaces": counts}
    with Collection.open(path, read_only=True) as coll:
        assert coll.stats()["engine"] == "milvus"
        assert {space: info["indexed"] for space, info in coll.stats()["spaces"].items()} == counts
        after = [(h.id, round(h.score, 4)) for h in coll.search(like="chelsea.png", alpha=1.0, limit=5)]
        assert after == before
        assert not coll.model_loaded  # "more like this" needs no model: nothing was embedded again
        stored_keys, stored = coll.store.vectors_for("visual", list(range(1, 21)))
        vectors, present = coll.engine.get("visual", stored_keys)
        assert present.all()
        np.testing.assert_allclose(vectors, stored, atol=1e-6)


def test_reindex_back_to_usearch_replaces_a_stale_index(sample_collection, sample_pictures, tmp_path):
    """In-process, on Milvus Lite: no model is loaded, and returning to usearch drops its old file."""
    path = tmp_path / "coll"
    with Collection.create(path) as coll:
        coll.ingest(str(sample_pictures))
        coll.delete(["chelsea.png"])  # the usearch index now lacks one item...
    with Collection.open(path) as coll:
        coll.reindex("milvus", {})
        assert coll.stats()["engine"] == "milvus" and not coll.model_loaded
    with Collection.open(path) as coll:
        coll.ingest(str(sample_pictures))  # ...Milvus gets it back
        assert coll.engine.count("visual") == 20
        coll.reindex("usearch", {})
        assert coll.engine.count("visual") == 20
    with Collection.open(path, read_only=True) as coll:
        assert coll.stats()["engine"] == "usearch"
        assert {h.id for h in coll.search(like="coffee.png", alpha=1.0, limit=20)} == {
            h.id for h in sample_collection.search(like="coffee.png", alpha=1.0, limit=20)}


def test_engine_is_registered():
    assert ENGINES.get("milvus") is MilvusEngine


def test_reindex_into_a_down_server_keeps_the_old_engine(sample_pictures, tmp_path, capsys):
    path = tmp_path / "coll"
    with Collection.create(path) as coll:
        coll.ingest(str(sample_pictures))
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SystemExit) as stopped:
        main(["reindex", "-c", str(path), "--engine", "milvus", "--engine-option", f"uri={uri}"])
    _, err = capsys.readouterr()
    assert stopped.value.code == 2 and err.startswith(f"error: cannot reach Milvus at {uri}")
    with Collection.open(path, read_only=True) as coll:
        assert coll.stats()["engine"] == "usearch"
        assert coll.search(like="chelsea.png", alpha=1.0, limit=3)


def test_reindex_keeps_items_embedded_but_not_yet_indexed(sample_pictures, tmp_path):
    """A crash between embedding and indexing leaves items 'embedded': their vectors must reach the
    new engine too, or the next ingest would mark them indexed without them being in any index."""
    path = tmp_path / "coll"
    with Collection.create(path) as coll:
        coll.ingest(str(sample_pictures))
        with coll.store.transaction() as conn:  # the state such a crash leaves behind
            conn.execute("UPDATE items SET status = 'embedded'")
        coll.reindex("milvus", {})  # Milvus Lite
        assert coll.engine.count("visual") == 20
    with Collection.open(path) as coll:
        coll.ingest(str(sample_pictures))
        assert coll.indexed_count() == 20 and coll.engine.count("visual") == 20
        assert coll.search(like="chelsea.png", alpha=1.0, limit=3)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_space_names_encode_reversibly_into_milvus_names(space):
    from iconodex.index.milvus_engine import _decode, _encode

    encoded = _encode(space)
    assert re.fullmatch(r"[A-Za-z0-9_]+", encoded)  # what Milvus allows in a collection name
    assert _decode(encoded) == space


def test_reindex_with_an_unknown_engine_option_is_one_line(sample_collection, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["reindex", "-c", str(sample_collection.path), "--engine", "milvus", "--engine-option", "url=x"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "has no option 'url'" in err and "uri" in err and "Traceback" not in err
