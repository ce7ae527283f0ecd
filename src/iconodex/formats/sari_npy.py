"""SARI IIIF CLIP Search's deployed features: ``features.npy`` + ``imageIds.csv``.

``features.npy`` is an (n, d) float matrix (float32; float16 is read too, within f16 precision);
``imageIds.csv`` has an ``image_id`` column aligned with its rows. SARI's service finds each
picture's IIIF URL through ``images.csv`` (``iiif_url,localIdentifier``, the id being
``blake2b(iiif_url, digest_size=20)``). We write all three, with the item id as ``image_id``
(for a collection harvested from SARI's CSV that *is* the blake2b id), and add an ``iiif_url``
column to ``imageIds.csv`` so that import can stream without joining.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NotFoundError, SourceError
from ..records import SourceRecord
from ..sources.csvfile import image_ref as csv_image_ref
from . import FORMATS
from .base import ExportReport, ImportReport
from .rows import count_rows, default_space
from .single import Rows, check_dims, export_batches, import_batches

if TYPE_CHECKING:
    from ..collection import Collection

DEFAULT_MODEL = "clip-vit-b32"  # SARI embeds with OpenAI CLIP ViT-B/32


def iiif_url(item) -> str:
    """SARI's ``iiif_url``: the IIIF service base, or the picture's own URL/path otherwise."""
    return item.image.location if item.image else ""


class SariNpy:
    name = "sari-npy"
    summary = "SARI deployment: features.npy + imageIds.csv (+ images.csv)"

    def export(self, coll: Collection, dest: Path, *, space: str | None = None, batch: int = 4096,
               advance: Callable[[int], None] | None = None, **_: Any) -> ExportReport:
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        space = space or default_space(coll)
        rows = count_rows(coll, space)
        features = np.lib.format.open_memmap(dest / "features.npy", mode="w+", dtype="<f4",
                                             shape=(rows, coll.spaces[space]))
        report = ExportReport(self.name, files=[str(dest / n) for n in ("features.npy", "imageIds.csv", "images.csv")])
        with (dest / "imageIds.csv").open("w", newline="") as ids_file, \
                (dest / "images.csv").open("w", newline="") as images_file:
            ids_csv, images_csv = csv.writer(ids_file), csv.writer(images_file)
            ids_csv.writerow(["image_id", "iiif_url"])
            images_csv.writerow(["iiif_url", "localIdentifier"])
            for items, vectors in export_batches(coll, space, batch, advance):
                features[report.items: report.items + len(items)] = vectors
                ids_csv.writerows([item.id, iiif_url(item)] for item in items)
                images_csv.writerows([iiif_url(item), item.id] for item in items)
                report.items += len(items)
        features.flush()
        return report

    def import_(self, src: Path, collection_path: Path, *, model: str | None = None, space: str = "image",
                batch: int = 4096, advance: Callable[[int], None] | None = None, **_: Any) -> tuple[Collection, ImportReport]:
        src = Path(src)
        for name in ("features.npy", "imageIds.csv"):
            if not (src / name).exists():
                raise NotFoundError(f"{src} has no {name}; give the folder holding SARI's features.npy and imageIds.csv")
        features = np.load(src / "features.npy", mmap_mode="r")
        check_dims(features, None, str(src / "features.npy"))
        return import_batches(self.name, src, collection_path, _read(src, features, batch),
                              model=model or DEFAULT_MODEL, space=space, advance=advance)


def _read(src: Path, features: np.ndarray, batch: int) -> Iterator[Rows]:
    urls = None
    with (src / "imageIds.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if "image_id" not in (reader.fieldnames or []):
            raise SourceError(f"{src / 'imageIds.csv'} has no image_id column (columns: {reader.fieldnames})")
        if "iiif_url" not in reader.fieldnames:
            urls = _url_table(src)  # upstream's layout: join with images.csv (held in memory)
        records: list[SourceRecord] = []
        row = 0
        for line in reader:
            url = line.get("iiif_url") or (urls or {}).get(line["image_id"], "")
            records.append(SourceRecord(id=line["image_id"], image=csv_image_ref(url, src, iiif_column=True)
                                        if url else None))
            if len(records) >= batch:
                yield Rows(records, _rows(features, row, len(records)))
                row, records = row + len(records), []
        if records:
            yield Rows(records, _rows(features, row, len(records)))


def _rows(features: np.ndarray, start: int, count: int) -> np.ndarray:
    if start + count > len(features):
        raise SourceError(f"imageIds.csv has more rows than features.npy ({len(features)})")
    return np.asarray(features[start:start + count], dtype=np.float32)


def _url_table(src: Path) -> dict[str, str]:
    path = src / "images.csv"
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {row.get("localIdentifier", ""): row.get("iiif_url", "") for row in csv.DictReader(handle)}


FORMATS.register("sari-npy", SariNpy())
