"""SARI's deployed features: upstream's imageIds.csv (image_id only) joined with images.csv,
float16 features, and the real SARI CSV's blake2b ids."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
from _formats_helpers import FIXTURES

from iconodex.errors import NotFoundError
from iconodex.formats import FORMATS
from iconodex.sources.csvfile import sari_id

SARI = FORMATS.get("sari-npy")


def test_upstream_layout_with_float16(tmp_path):
    folder = tmp_path / "bso"
    (folder / "features").mkdir(parents=True)
    shutil.copy(FIXTURES / "csv" / "sari_bso_images_first200.csv", folder / "features" / "images.csv")
    with (folder / "features" / "images.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    vectors = np.random.default_rng(2).normal(size=(len(rows), 512))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float16)
    np.save(folder / "features" / "features.npy", vectors)
    with (folder / "features" / "imageIds.csv").open("w", newline="") as handle:
        handle.write("image_id\n" + "".join(row["localIdentifier"] + "\n" for row in rows))
    coll, report = SARI.import_(folder / "features", tmp_path / "coll", batch=64)
    with coll:
        assert report.items == len(rows) and coll.model_name == "clip-vit-b32"
        first = coll.get(sari_id(rows[0]["iiif_url"]))
        assert (first.image.kind, first.image.location) == ("iiif", rows[0]["iiif_url"])
        stored = {i: v for ids, m in coll.vectors("image") for i, v in zip(ids, m, strict=True)}
        expected = vectors[10].astype(np.float32)
        assert np.allclose(stored[rows[10]["localIdentifier"]], expected / np.linalg.norm(expected), atol=2e-3)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(NotFoundError, match="no features.npy"):
        SARI.import_(tmp_path, tmp_path / "coll")
