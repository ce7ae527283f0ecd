"""What the faiss engine does beyond the engine contract (test_engines_contract.py): replacing and
deleting through tombstones, the ``allowed`` filter applied during the graph walk, compaction,
memory-mapped readers that follow a newer save, saves a kill cannot half-write, and ``reindex``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from _index_helpers import synthetic_collection

from iconodex import Collection
from iconodex.cli import main
from iconodex.index import ENGINES, faiss_engine
from iconodex.index.faiss_engine import FaissEngine

DIMS = 16


def unit(rows: int, dims: int = DIMS, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def filled(tmp_path, rows: int = 1_000, **options) -> tuple[FaissEngine, np.ndarray, np.ndarray]:
    """An engine searching its graph (not a flat scan) over ``rows`` saved vectors."""
    engine = FaissEngine(tmp_path / "index", **{"exact_below": 0, **options})
    keys = np.arange(1, rows + 1, dtype=np.int64)
    vectors = unit(rows, seed=1)
    engine.ensure_space("image", DIMS)
    engine.upsert("image", keys, vectors)
    engine.flush()
    return engine, keys, vectors


def test_engine_is_registered():
    assert ENGINES.get("faiss") is FaissEngine


def test_a_replaced_key_is_found_once_and_only_by_its_new_vector(tmp_path):
    engine, keys, vectors = filled(tmp_path)
    moved = -vectors[:50]  # as far as can be from where they were
    engine.upsert("image", keys[:50], moved)
    engine.upsert("image", keys[:50], moved)  # twice: still one live copy each
    assert engine.count("image") == len(keys)
    for old, new, key in zip(vectors[:50], moved, keys[:50], strict=True):
        found, scores = engine.search("image", old, 20)
        assert key not in found.tolist(), "a replaced vector still matches"
        assert len(set(found.tolist())) == len(found)
        again, _ = engine.search("image", new, 5)
        assert again[0] == key and again.tolist().count(key) == 1
    batch, _ = engine.search_many("image", vectors[:50], 20)
    assert not (batch == keys[:50, None]).any()
    stored, present = engine.get("image", keys[:50])
    assert present.all() and np.allclose(stored, moved, atol=1e-6)


def test_deleted_keys_are_never_returned(tmp_path):
    engine, keys, vectors = filled(tmp_path)
    engine.delete("image", keys[::2])
    assert engine.count("image") == len(keys) // 2
    for query in vectors[:40]:
        found, _ = engine.search("image", query, 30)
        assert len(found) == 30 and not np.isin(found, keys[::2]).any()


@pytest.mark.parametrize("walk", [False, True], ids=["scored directly", "filtered walk"])
def test_allowed_keys_only_even_far_from_the_query(tmp_path, monkeypatch, walk):
    if walk:  # every allowed set goes through the graph walk with an id bitmap
        monkeypatch.setattr(faiss_engine, "BRUTE_FORCE_FILTER", 0)
    engine, keys, vectors = filled(tmp_path)
    query = vectors[0]
    far = keys[np.argsort(vectors @ query)[:300]]  # the 300 farthest from the query
    engine.delete("image", far[:10])  # deleted keys stay out even when allowed
    found, scores = engine.search("image", query, 10, far)
    assert len(found) == 10 and np.isin(found, far[10:]).all()
    np.testing.assert_allclose(scores, vectors[found - 1] @ query, atol=1e-4)
    assert (np.diff(scores) <= 1e-6).all()

    allowed = np.random.default_rng(4).choice(np.setdiff1d(keys, far[:10]), 300, replace=False)  # unrelated to the query
    for query in vectors[:5]:
        found, _ = engine.search("image", query, 10, allowed)
        exact = allowed[np.argsort(-(vectors[allowed - 1] @ query))[:10]]
        assert len(found) == 10 and np.isin(found, allowed).all()
        assert len(set(found.tolist()) & set(exact.tolist())) >= 8


def test_compaction_keeps_every_live_key(tmp_path):
    engine, keys, vectors = filled(tmp_path, compact_share=0.2)
    engine.delete("image", keys[:150])
    replaced = unit(100, seed=5)
    engine.upsert("image", keys[150:250], replaced)  # 250 of 1,100 ids dead: past the share
    engine.flush()
    assert engine._indexes["image"].tombstones == 0, "the flush did not compact"
    reader = FaissEngine(tmp_path / "index", read_only=True, exact_below=0)
    assert reader.count("image") == len(keys) - 150
    stored, present = reader.get("image", keys)
    assert present.tolist() == [False] * 150 + [True] * (len(keys) - 150)
    np.testing.assert_allclose(stored[150:250], replaced, atol=1e-6)
    np.testing.assert_allclose(stored[250:], vectors[250:], atol=1e-6)
    for key, vector in zip(keys[150::53], np.vstack([replaced, vectors[250:]])[::53], strict=True):
        assert reader.search("image", vector, 1)[0].tolist() == [key]


def test_a_reader_maps_the_file_and_follows_a_newer_save(tmp_path):
    writer, keys, vectors = filled(tmp_path)
    reader = FaissEngine(tmp_path / "index", read_only=True, exact_below=0)
    assert reader.search("image", vectors[3], 1)[0].tolist() == [keys[3]]
    saved = tmp_path / "index" / "faiss" / json.loads((tmp_path / "index" / "faiss" / "spaces.json").read_text())[
        "spaces"]["image"]["file"]
    assert str(saved) in _mapped_files(), "the reader read the file instead of mapping it"
    writer.upsert("image", np.asarray([99_999]), unit(1, seed=9))
    writer.delete("image", keys[:1])
    writer.flush()
    assert reader.count("image") == len(keys)  # one added, one deleted: seen with no reopen
    assert reader.search("image", unit(1, seed=9)[0], 1)[0].tolist() == [99_999]
    assert keys[0] not in reader.search("image", vectors[0], 10)[0].tolist()
    assert not saved.exists(), "the replaced file was left behind"


def _mapped_files() -> set[str]:
    with open("/proc/self/maps") as maps:
        return {line.split(maxsplit=5)[5].strip() for line in maps if len(line.split(maxsplit=5)) == 6}


SAVER = """
import sys, numpy as np
from iconodex.index.faiss_engine import FaissEngine
engine = FaissEngine(sys.argv[1])
rng = np.random.default_rng(3)
def unit(rows):
    vectors = rng.standard_normal((rows, 128)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
engine.upsert("image", np.arange(5_000), unit(5_000))
for round in range(1, 100_000):  # each flush writes the whole file again
    engine.flush()
    print(round, flush=True)
    engine.upsert("image", np.asarray([round % 5_000]), unit(1))
"""


def test_a_save_killed_midway_leaves_the_previous_file_valid(tmp_path):
    folder = tmp_path / "index"
    first = FaissEngine(folder)
    first.ensure_space("image", 128)
    first.close()
    process = subprocess.Popen([sys.executable, "-c", SAVER, str(folder)], stdout=subprocess.PIPE, text=True,
                               env=os.environ)
    try:
        assert process.stdout.readline().strip() == "1"  # one save done: a file to keep
        deadline = time.monotonic() + 60
        while not list((folder / "faiss").glob("*.tmp")):  # the next save is being written
            assert time.monotonic() < deadline and process.poll() is None, "no save seen in progress"
            time.sleep(0.001)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert list((folder / "faiss").glob("*.tmp")), "the kill came after the save: nothing was tested"
    reader = FaissEngine(folder, read_only=True)
    assert reader.count("image") == 5_000 and reader.damage() == {}
    vectors, present = reader.get("image", np.arange(5_000))
    assert present.all()
    assert reader.search("image", vectors[17], 1)[0].tolist() == [17]
    writer = FaissEngine(folder)  # the next writer carries on from the saved file
    writer.delete("image", np.arange(10))
    writer.flush()
    assert FaissEngine(folder, read_only=True).count("image") == 4_990


def test_reindex_to_faiss_and_back(tmp_path, capsys):
    path = tmp_path / "coll"
    synthetic_collection(path, items=300).close()
    with Collection.open(path, read_only=True) as coll:
        before = [(h.id, round(h.score, 4)) for h in coll.search(like="item-00007", alpha=1.0, limit=5)]
        counts = {space: info["indexed"] for space, info in coll.stats()["spaces"].items()}
    with pytest.raises(SystemExit) as stopped:
        main(["reindex", "-c", str(path), "--engine", "faiss", "--engine-option", "connectivity=8", "--json"])
        raise SystemExit(0)
    out, err = capsys.readouterr()
    assert (stopped.value.code or 0) == 0, err
    assert json.loads(out) == {"engine": "faiss", "spaces": counts}
    assert list((path / "index" / "faiss").glob("*.faiss"))
    with Collection.open(path, read_only=True) as coll:
        assert coll.stats()["engine"] == "faiss"
        assert coll.engine.inner._index("visual").graph.hnsw.nb_neighbors(1) == 8  # the option, given as text
        assert [(h.id, round(h.score, 4)) for h in coll.search(like="item-00007", alpha=1.0, limit=5)] == before
        assert not coll.model_loaded
    with Collection.open(path) as coll:
        coll.delete(["item-00008"])
        coll.reindex("usearch", {})
    with Collection.open(path, read_only=True) as coll:
        assert coll.stats()["engine"] == "usearch"
        assert coll.engine.count("visual") == counts["visual"] - 1
        after = [(h.id, round(h.score, 4)) for h in coll.search(like="item-00007", alpha=1.0, limit=5)]
        kept = [hit for hit in before if hit[0] != "item-00008"]
        assert after[:len(kept)] == kept
