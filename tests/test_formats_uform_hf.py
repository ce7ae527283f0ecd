"""The UForm seed's Hugging Face dataset: written as its README describes, read back bit-exact,
and a dataset written the seed's way (no iconodex.json, raw vectors) searched without re-embedding."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from _formats_helpers import PICTURES, catalogue_collection, folder_collection, vectors_by_id  # noqa: F401
from click.testing import CliRunner
from usearch.index import Index

from iconodex import Collection
from iconodex.cli import cli
from iconodex.errors import ConfigError, NotFoundError, SourceError
from iconodex.formats import FORMATS
from iconodex.formats.fbin import read_fbin, write_fbin
from iconodex.formats.uform_hf import TABLE, fused

UFORM = FORMATS.get("uform-hf")


@pytest.fixture(scope="module")
def exported(catalogue_collection, tmp_path_factory):  # noqa: F811
    dest = tmp_path_factory.mktemp("hf") / "dataset"
    report = UFORM.export(catalogue_collection, dest, batch=3)  # several batches
    return dest, report


def test_files_follow_the_seed_readme(exported, catalogue_collection):  # noqa: F811
    dest, report = exported
    n = len(PICTURES)
    assert report.items == n
    images, texts = read_fbin(dest / "image_embeddings.fbin"), read_fbin(dest / "text_embeddings.fbin")
    labels = np.load(dest / "labels.npy")
    assert images.shape == texts.shape == (n, 384) and images.dtype == np.float32
    assert labels.dtype == np.int64 and sorted(labels.tolist()) == list(range(101, 101 + n))
    stored = vectors_by_id(catalogue_collection, "image")
    for row, label in enumerate(labels):
        assert np.array_equal(images[row], stored[str(label)])


def test_the_datasets_library_loads_it_as_the_seed_readme_shows(exported, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")  # a local folder: nothing to ask a hub
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets", reason="the datasets library is a dev dependency")
    dest, _ = exported
    table = datasets.load_dataset(str(dest))
    row = table["train"][0]
    assert len(table["train"]) == len(PICTURES)
    assert row["item_id"] == np.load(dest / "labels.npy")[0] and row["Title"] and row["images_urls"]


def test_fused_index_is_keyed_by_item_id(exported):
    dest, _ = exported
    index = Index.restore(str(dest / "usearch_index.usearch"))
    labels = np.load(dest / "labels.npy")
    images, texts = read_fbin(dest / "image_embeddings.fbin"), read_fbin(dest / "text_embeddings.fbin")
    assert index.size == len(labels) and index.ndim == 384
    query = fused(images[2:3], texts[2:3])[0]
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-5)
    assert int(index.search(query, 1).keys[0]) == int(labels[2])


def test_table_and_card(exported):
    dest, _ = exported
    table = pq.read_table(dest / TABLE)
    assert table.column("id").to_pylist() == list(range(1, len(PICTURES) + 1))
    assert table.schema.field("item_id").type == pa.int64()
    assert table.schema.field("images_urls").type == pa.list_(pa.string())
    row = {k: v[0] for k, v in table.slice(0, 1).to_pydict().items()}
    assert row["item_id"] == np.load(dest / "labels.npy")[0]
    assert row["Title"].startswith("Picture of") and row["images_urls"][0].endswith(".png")
    assert row["Creator"].startswith("Maker")  # single-valued field: a string, like the seed's
    assert table.schema.field("Subject").type == pa.list_(pa.string())  # multi-valued: a list
    card = (dest / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["configs"][0]["data_files"][0]["path"] == "data/train-*.parquet"
    for name in ("image_embeddings.fbin", "text_embeddings.fbin", "labels.npy", "usearch_index.usearch"):
        assert name in card


def test_round_trip_is_bit_exact(exported, catalogue_collection, tmp_path):  # noqa: F811
    dest, _ = exported
    coll, report = UFORM.import_(dest, tmp_path / "imported", batch=5)
    with coll:
        assert report.items == len(PICTURES) and report.skipped == []
        for space in ("image", "text"):
            original, back = vectors_by_id(catalogue_collection, space), vectors_by_id(coll, space)
            assert original.keys() == back.keys()
            assert all(np.array_equal(original[i], back[i]) for i in original)
        item, before = coll.get("103"), catalogue_collection.get("103")
        assert (item.title, item.metadata, item.image) == (before.title, before.metadata, before.image)
        results = coll.search(like="103", limit=3)
        assert len(results) == 3 and "103" not in [r.id for r in results]
        assert coll.model_name == "offline"  # recorded in iconodex.json


def test_string_ids_use_keys_as_labels(folder_collection, tmp_path):  # noqa: F811
    report = UFORM.export(folder_collection, tmp_path / "ds")
    table = pq.read_table(tmp_path / "ds" / TABLE)
    labels = np.load(tmp_path / "ds" / "labels.npy")
    assert table.column("label").to_pylist() == labels.tolist()
    assert table.column("item_id").to_pylist()[0] == "astronaut.png"
    coll, _ = UFORM.import_(tmp_path / "ds", tmp_path / "coll")
    with coll:
        assert sorted(i.id for i in coll.items()) == sorted(PICTURES)
        assert report.items == len(PICTURES)


def seed_dataset(folder, rng, n=40, dims=64):
    """A dataset as the seed's uv script writes it: raw (unnormalised) vectors, Omeka item ids,
    a table in another order than the embeddings, and no iconodex.json."""
    (folder / "data").mkdir(parents=True)
    images = rng.normal(size=(n, dims)).astype(np.float32) * 3
    texts = rng.normal(size=(n, dims)).astype(np.float32)
    labels = rng.permutation(np.arange(1000, 1000 + n)).astype(np.int64)
    write_fbin(folder / "image_embeddings.fbin", images)
    write_fbin(folder / "text_embeddings.fbin", texts)
    np.save(folder / "labels.npy", labels)
    order = rng.permutation(n)
    pq.write_table(pa.table({
        "id": list(range(1, n + 1)), "item_id": labels[order].tolist(),
        "Identifier": [f"ark:/{label}" for label in labels[order]],
        "Title": [f"Titre {label}" for label in labels[order]],
        "images_urls": [[f"https://omeka.example.org/files/original/{label}.jpg"] for label in labels[order]],
    }), folder / TABLE)
    return images, texts, labels


def test_seed_written_dataset_is_searchable_without_reembedding(tmp_path):
    images, texts, labels = seed_dataset(tmp_path / "ds", np.random.default_rng(7))
    coll, report = UFORM.import_(tmp_path / "ds", tmp_path / "coll", batch=16)
    with coll:
        assert report.items == len(labels) and coll.model_name == "uform3-multilingual"
        assert coll.stats()["reduction"]["dims"] == 64  # text queries are truncated to D like the seed
        row = 5
        item = coll.get(str(labels[row]))
        assert item.title == f"Titre {labels[row]}" and item.metadata["Identifier"] == [f"ark:/{labels[row]}"]
        assert item.image.location.endswith(f"{labels[row]}.jpg")
        stored = vectors_by_id(coll, "image")[str(labels[row])]
        assert np.allclose(stored, images[row] / np.linalg.norm(images[row]), atol=1e-6)
        expected = np.argsort(-(images / np.linalg.norm(images, axis=1, keepdims=True)) @ stored)[1]
        best = coll.search(like=str(labels[row]), alpha=1.0, keyword=False, limit=1)[0]
        assert best.id == str(labels[expected])


def test_bad_datasets_give_one_line_errors(tmp_path):
    seed_dataset(tmp_path / "ds", np.random.default_rng(1), n=4)
    np.save(tmp_path / "ds" / "labels.npy", np.arange(3, dtype=np.int64))
    with pytest.raises(SourceError, match="labels.npy has 3 labels"):
        UFORM.import_(tmp_path / "ds", tmp_path / "coll")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="image_embeddings.fbin"):
        UFORM.import_(tmp_path / "empty", tmp_path / "coll2")
    (tmp_path / "x.fbin").write_bytes(b"\x05\x00\x00\x00\x04\x00\x00\x00" + b"\x00" * 8)
    with pytest.raises(SourceError, match="not a valid .fbin"):
        read_fbin(tmp_path / "x.fbin")


def test_import_refuses_an_existing_collection(exported, catalogue_collection):  # noqa: F811
    with pytest.raises(ConfigError, match="already a collection"):
        UFORM.import_(exported[0], catalogue_collection.path)


def test_cli_export_import_search(catalogue_collection, tmp_path):  # noqa: F811
    runner = CliRunner()
    out = runner.invoke(cli, ["export", "uform-hf", str(tmp_path / "ds"), "-c", str(catalogue_collection.path)])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["import", "uform-hf", str(tmp_path / "ds"), "-c", str(tmp_path / "c"), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["spaces"] == {"image": len(PICTURES), "text": len(PICTURES)}
    with Collection.open(tmp_path / "c") as coll:
        assert coll.search(like="101", limit=1)[0].id != "101"
