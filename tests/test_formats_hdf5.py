"""HDF5 as the Open Images embedder writes it: chunk files, bytes URLs, the merged file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from iconodex.errors import SourceError
from iconodex.formats import FORMATS
from iconodex.formats.hdf5 import chunk_files, merge_chunks

HDF5 = FORMATS.get("hdf5")


def write_chunk(path, urls, vectors):
    """The notebook's chunk file: fixed-length bytes URLs and float32 embeddings, nothing else."""
    with h5py.File(path, "w") as handle:
        handle.create_dataset("urls", data=np.array(urls, dtype="S"))
        handle.create_dataset("embeddings", data=vectors)


@pytest.fixture
def chunks(tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "OUTPUT"
    folder.mkdir()
    urls, vectors = [], []
    for number in (0, 1, 2, 10):  # numeric order, not text order: 10 comes last
        chunk_urls = [f"https://farm{number}.staticflickr.com/{number}_{i}.jpg" for i in range(5)]
        chunk_vectors = rng.normal(size=(5, 32)).astype(np.float32)
        chunk_vectors /= np.linalg.norm(chunk_vectors, axis=1, keepdims=True)
        write_chunk(folder / f"Images_Embedded_{number}.h5", chunk_urls, chunk_vectors)
        urls += chunk_urls
        vectors.append(chunk_vectors)
    return folder, urls, np.vstack(vectors)


def test_chunk_order(chunks):
    folder, _, _ = chunks
    assert [p.name for p in chunk_files(folder)][-1] == "Images_Embedded_10.h5"


def test_folder_of_chunks_imports_as_if_merged(chunks, tmp_path):
    folder, urls, vectors = chunks
    coll, report = HDF5.import_(folder, tmp_path / "coll", batch=3)
    with coll:
        assert report.items == 20 and coll.model_name == "clip-vit-b32" and coll.similar_space == "image"
        stored = {i: v for ids, m in coll.vectors("image") for i, v in zip(ids, m, strict=True)}
        assert all(np.array_equal(stored[url], vectors[n]) for n, url in enumerate(urls))
        assert coll.get(urls[7]).image.kind == "url"
        assert coll.search(like=urls[7], limit=1)[0].id != urls[7]


def test_merge_chunks(chunks, tmp_path):
    folder, urls, vectors = chunks
    rows = merge_chunks(folder, folder / "Images_Embedded.h5", batch=4)
    with h5py.File(folder / "Images_Embedded.h5") as handle:
        assert rows == 20
        assert [u.decode() for u in handle["urls"][:]] == urls
        assert np.array_equal(handle["embeddings"][:], vectors)


def test_missing_datasets_are_named(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as handle:
        handle.create_dataset("vectors", data=np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(SourceError, match="no urls and embeddings dataset; it has vectors"):
        HDF5.import_(tmp_path / "bad.h5", tmp_path / "coll")


def test_a_file_that_is_not_hdf5_is_named_as_such(tmp_path):
    """h5py said "Unable to synchronously open file (file signature not found)"."""
    (tmp_path / "notes.h5").write_text("not an HDF5 file")
    with pytest.raises(SourceError, match=r"notes\.h5: not an HDF5 file"):
        HDF5.import_(tmp_path / "notes.h5", tmp_path / "coll")
    assert not (tmp_path / "coll").exists()
