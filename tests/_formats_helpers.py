"""Collections the format, neighbours and duplicates tests share (built once per session)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from iconodex import Collection

SKIMAGE = Path(np.__file__).resolve().parents[1] / "skimage" / "data"
PICTURES = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "horse.png", "rocket.jpg",
            "coins.png", "brick.png")
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def copy_pictures(folder: Path, names=PICTURES) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(SKIMAGE / name, folder / name)) for name in names]


def catalogue_csv(folder: Path) -> Path:
    """An Omeka-like catalogue: integer ids, titles, multi-valued subjects, one item without title."""
    paths = copy_pictures(folder / "pictures")
    csv_path = folder / "catalogue.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "image", "title", "Creator", "Subject"])
        for number, path in enumerate(paths, 101):
            title = "" if number == 104 else f"Picture of {path.stem}"
            subjects = "skimage|test" if number % 2 else "skimage"
            writer.writerow([number, str(path), title, f"Maker {number % 3}", subjects])
    return csv_path


def vectors_by_id(coll: Collection, space: str) -> dict[str, np.ndarray]:
    return {item_id: vector for ids, matrix in coll.vectors(space) for item_id, vector in zip(ids, matrix, strict=True)}


@pytest.fixture(scope="session")
def catalogue_collection(tmp_path_factory) -> Collection:
    """Integer ids (like Omeka item ids) and metadata, offline model."""
    root = tmp_path_factory.mktemp("catalogue")
    coll = Collection.create(root / "coll")
    report = coll.ingest(str(catalogue_csv(root)), options={"id_column": "id", "multi_separator": "|"})
    assert report.indexed == len(PICTURES), report
    return coll


@pytest.fixture(scope="session")
def folder_collection(tmp_path_factory) -> Collection:
    """String ids (file names), titles only."""
    root = tmp_path_factory.mktemp("folder")
    copy_pictures(root / "pictures")
    coll = Collection.create(root / "coll")
    coll.ingest(str(root / "pictures"))
    return coll
