"""The embedded engine reads many vectors at once from the memory-mapped file's matrix (one
gather) instead of one USearch array per key: the same vectors, for saved files with removed,
replaced and re-added keys, in f32 and f16, and nothing at all from a file laid out otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from usearch.index import Index

from iconodex.index import usearch_engine
from iconodex.index.usearch_engine import UsearchEngine
from iconodex.index.usearch_rows import file_rows

DIMS = 16


def _unit(rows: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, DIMS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _saved_engine(directory, dtype: str) -> np.ndarray:
    """A saved space whose history leaves holes and reused slots: 600 keys, 100 removed, 50 of them
    replaced by new vectors, 80 new keys. Returns every key ever used."""
    engine = UsearchEngine(directory, dtype=dtype)
    engine.ensure_space("image", DIMS)
    engine.upsert("image", np.arange(1, 601), _unit(600, 1))
    engine.flush()
    engine.delete("image", np.arange(101, 201))
    engine.upsert("image", np.arange(151, 201), _unit(50, 2))  # back, with other vectors
    engine.upsert("image", np.arange(1, 41), _unit(40, 3))  # replaced in place
    engine.upsert("image", np.arange(1001, 1081), _unit(80, 4))
    engine.flush()
    engine.close()
    return np.concatenate([np.arange(1, 601), np.arange(1001, 1081), [5000, 0]]).astype(np.int64)


@pytest.mark.parametrize("dtype", ["f32", "f16"])
def test_many_keys_read_from_the_file_equal_usearch_get(tmp_path, monkeypatch, dtype):
    keys = _saved_engine(tmp_path / "index", dtype)
    reader = UsearchEngine(tmp_path / "index", read_only=True)
    from_file = reader.get("image", keys)
    assert reader._rows["image"][1] is not None  # the file's rows answered, not Index.get
    monkeypatch.setattr(usearch_engine, "FILE_ROWS_FROM", 10**9)
    one_by_one = UsearchEngine(tmp_path / "index", read_only=True).get("image", keys)
    assert np.array_equal(from_file[1], one_by_one[1])
    assert not from_file[1][np.isin(keys, np.arange(101, 151))].any() and not from_file[1][-2:].any()
    assert np.array_equal(from_file[0], one_by_one[0])
    replaced = np.isin(keys, np.arange(1, 41))
    assert not np.allclose(from_file[0][replaced], _unit(600, 1)[:40], atol=1e-2)  # the new vectors


def test_an_engine_writing_a_space_reads_its_vectors_from_memory(tmp_path):
    keys = _saved_engine(tmp_path / "index", "f32")
    engine = UsearchEngine(tmp_path / "index")
    engine.upsert("image", np.arange(1, 301), _unit(300, 9))  # not saved: the file is out of date
    vectors, present = engine.get("image", keys[:300])
    assert present.all() and np.allclose(vectors, _unit(300, 9), atol=1e-6)


def test_a_file_of_another_layout_gives_no_rows(tmp_path):
    index = Index(ndim=DIMS, metric="cos", dtype="f32")
    index.add(np.arange(1, 301, dtype=np.uint64), _unit(300, 5))
    good, odd = tmp_path / "good.usearch", tmp_path / "odd.usearch"
    index.save(str(good))
    view = Index.restore(str(good), view=True)
    assert file_rows(good, view) is not None
    data = bytearray(good.read_bytes())
    head = 8 + 300 * DIMS * 4
    data[head + 7] = 3  # a major version this reader does not know
    odd.write_bytes(bytes(data))
    assert file_rows(odd, view) is None
    odd.write_bytes(good.read_bytes()[:-4])  # the nodes do not add up to the file
    assert file_rows(odd, view) is None


def test_once_mapped_a_files_rows_answer_small_reads_too_with_the_same_vectors(tmp_path):
    keys = _saved_engine(tmp_path / "index", "f32")
    reader = UsearchEngine(tmp_path / "index", read_only=True)
    small = keys[:80]
    before = reader.get("image", small)
    assert "image" not in reader._rows  # a small read alone does not pay for mapping the file
    reader.get("image", keys)  # a large read maps it
    rows = reader._rows["image"][1]
    assert rows is not None
    calls = []
    real_get = rows.get
    rows.get = lambda wanted: calls.append(len(wanted)) or real_get(wanted)
    after = reader.get("image", small)
    assert calls == [len(small)]  # the mapped rows answered the small read
    assert np.array_equal(before[1], after[1]) and np.array_equal(before[0], after[0])
