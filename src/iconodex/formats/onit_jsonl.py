"""JSONL as ONiT's ``compute_image_vectors.py`` writes it: one object per picture,
``{"id": …, "iiif_url": …, "local_url": …, "vec": [...]}``.

We write ``id``, ``iiif_url`` (remote pictures), ``local_url`` (local files), ``title`` and
``vec``. Import also accepts the common variants: ``identifier``/``image_id`` for the id,
``iiif``/``url``/``image``/``reproduction`` for the picture, ``vector``/``embedding`` for the
vector. A line that cannot be read is reported and skipped; the rest imports.
Floats are written with Python's shortest round-trip repr, so float32 vectors come back exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NotFoundError
from ..records import SourceRecord
from ..store import Item
from . import FORMATS
from .base import ExportReport, ImportReport
from .rows import image_ref, item_payload
from .single import Rows, export_batches, import_batches

if TYPE_CHECKING:
    from ..collection import Collection

ID_KEYS = ("id", "identifier", "image_id", "imageId")
URL_KEYS = ("iiif_url", "iiif", "url", "image_url", "image", "reproduction", "local_url")
VECTOR_KEYS = ("vec", "vector", "embedding", "features")


def onit_object(item: Item, vector: np.ndarray) -> dict[str, Any]:
    """The ONiT payload of one item (also the shape of references in neighbours.json)."""
    return {**item_payload(item), "vec": vector.tolist()}


class OnitJsonl:
    name = "onit-jsonl"
    summary = "ONiT JSONL: one {id, iiif_url, vec} object per line"

    def export(self, coll: Collection, dest: Path, *, space: str | None = None, batch: int = 4096,
               advance: Callable[[int], None] | None = None, **_: Any) -> ExportReport:
        report = ExportReport(self.name, files=[str(dest)])
        with Path(dest).open("w", encoding="utf-8") as out:
            for items, vectors in export_batches(coll, space, batch, advance):
                out.writelines(json.dumps(onit_object(item, vector), ensure_ascii=False) + "\n"
                               for item, vector in zip(items, vectors, strict=True))
                report.items += len(items)
        return report

    def import_(self, src: Path, collection_path: Path, *, model: str | None = None, space: str = "visual",
                batch: int = 4096, advance: Callable[[int], None] | None = None, **_: Any) -> tuple[Collection, ImportReport]:
        src = Path(src)
        if not src.is_file():
            raise NotFoundError(f"{src} does not exist or is not a file")
        skipped: list[tuple[str, str]] = []
        return import_batches(self.name, src, collection_path, _read(src, batch, skipped),
                              model=model, space=space, skipped=skipped, advance=advance)


def _read(path: Path, batch: int, skipped: list[tuple[str, str]]) -> Iterator[Rows]:
    records: list[SourceRecord] = []
    vectors: list[np.ndarray] = []
    dims: int | None = None
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record, vector = parse_line(line)
            except ValueError as exc:
                skipped.append((f"line {number}", str(exc)))
                continue
            dims = dims or len(vector)
            if len(vector) != dims:
                skipped.append((f"line {number}", f"vector has {len(vector)} dims, earlier ones {dims}"))
                continue
            records.append(record)
            vectors.append(vector)
            if len(records) >= batch:
                yield Rows(records, np.vstack(vectors))
                records, vectors = [], []
    if records:
        yield Rows(records, np.vstack(vectors))


def parse_line(line: str) -> tuple[SourceRecord, np.ndarray]:
    """One JSONL line → (record, float32 vector); ValueError says what is wrong with it."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    item_id = _first(data, ID_KEYS)
    raw = _first(data, VECTOR_KEYS)
    if item_id is None or raw is None:
        raise ValueError(f"needs an id ({'/'.join(ID_KEYS)}) and a vector ({'/'.join(VECTOR_KEYS)})")
    try:
        vector = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError("the vector is not a list of numbers") from None
    if vector.ndim != 1 or not len(vector):
        raise ValueError("the vector is not a flat, non-empty list of numbers")
    title = data.get("title")
    record = SourceRecord(id=str(item_id), image=image_ref(_first(data, URL_KEYS)),
                          title=str(title) if title and title != item_id else "")
    return record, vector


def _first(data: dict, keys: tuple[str, ...]) -> Any:
    return next((data[k] for k in keys if data.get(k) not in (None, "")), None)


FORMATS.register("onit-jsonl", OnitJsonl())
