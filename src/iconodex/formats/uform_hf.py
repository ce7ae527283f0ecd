"""The UForm seed's Hugging Face dataset, written and read.

```
image_embeddings.fbin      (N, D) float32: the ``image`` space, one row per item with a picture
text_embeddings.fbin       (N, D) float32: the ``text`` space, same rows (zeros: no text)
labels.npy                 (N,) int64: each row's label (the item id when ids are integers,
                           else the collection's integer key, also in the table's ``label`` column)
usearch_index.usearch      cosine f32 index of 0.5*image + 0.5*text (renormalised; image only
                           where there is no text), keyed by label
data/train-00000-of-00001.parquet   id (1..N), item_id, [label], Title, images_urls, links, metadata…
iconodex.json              what made the vectors (model, spaces), read back on import
README.md                  the dataset card
```
Rows of the table, the fbin files and labels.npy are aligned; the importer nevertheless joins
the table to the vectors by label, so a table re-ordered by someone else still imports right.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, NotFoundError, SourceError
from ..extras import require
from ..models.base import l2_normalise
from ..records import SourceRecord
from . import FORMATS
from .base import ExportReport, ImportReport
from .card import dataset_card
from .fbin import FbinWriter, read_fbin
from .loader import ImportWriter, new_imported_collection
from .rows import RowBatch, count_rows, image_ref, image_url, iter_rows

if TYPE_CHECKING:
    from ..collection import Collection

TABLE = Path("data") / "train-00000-of-00001.parquet"
FIXED_COLUMNS = ("id", "item_id", "label", "Title", "images_urls", "links")
METADATA_SUFFIX = " (metadata)"  # a metadata field named like a fixed column gets this suffix
DEFAULT_MODEL = "uform3-multilingual"


@dataclass
class Survey:
    """What a first pass over the collection learns, so the table's schema is fixed up front."""

    integer_ids: bool = True
    fields: dict[str, bool] = field(default_factory=dict)  # field -> has several values somewhere


def column_name(metadata_field: str) -> str:
    return metadata_field + METADATA_SUFFIX if metadata_field in FIXED_COLUMNS else metadata_field


def field_name(column: str) -> str:
    return column[: -len(METADATA_SUFFIX)] if column.endswith(METADATA_SUFFIX) else column


def _survey(coll: Collection) -> Survey:
    survey = Survey()
    for item in coll.items():
        if survey.integer_ids and not (item.id.isdigit() and str(int(item.id)) == item.id):
            survey.integer_ids = False
        for name, values in item.metadata.items():
            survey.fields[name] = survey.fields.get(name, False) or len(values) > 1
    return survey


class UformHF:
    name = "uform-hf"
    summary = "UForm seed's Hugging Face dataset: fbin embeddings, labels.npy, fused USearch index, parquet, card"

    # -- export -------------------------------------------------------------------------------

    def export(self, coll: Collection, dest: Path, *, image_space: str = "image", text_space: str = "text",
               batch: int = 4096, title: str | None = None, advance: Callable[[int], None] | None = None,
               **_: Any) -> ExportReport:
        pq = require("pyarrow.parquet", "formats", "the uform-hf format")
        from usearch.index import Index

        dims = self._check_spaces(coll, image_space, text_space)
        dest = Path(dest)
        (dest / TABLE.parent).mkdir(parents=True, exist_ok=True)
        survey = _survey(coll)
        schema = self._schema(survey)
        rows = count_rows(coll, image_space)
        report = ExportReport(self.name)
        labels = np.lib.format.open_memmap(dest / "labels.npy", mode="w+", dtype=np.int64, shape=(rows,))
        index = Index(ndim=dims, metric="cos", dtype="f32")
        spaces = [image_space] + ([text_space] if text_space in coll.spaces else [])
        with (FbinWriter(dest / "image_embeddings.fbin", dims) as images,
              FbinWriter(dest / "text_embeddings.fbin", dims) as texts,
              pq.ParquetWriter(dest / TABLE, schema) as table):
            for chunk in iter_rows(coll, spaces, batch, advance):
                chunk_labels = self._labels(chunk, survey)
                labels[report.items: report.items + len(chunk_labels)] = chunk_labels
                text = chunk.vectors.get(text_space, np.zeros_like(chunk.vectors[image_space]))
                images.write(chunk.vectors[image_space])
                texts.write(text)
                index.add(chunk_labels, fused(chunk.vectors[image_space], text))
                table.write_table(self._table(chunk, chunk_labels, report.items, survey, schema))
                report.items += len(chunk_labels)
        labels.flush()
        del labels
        index.save(str(dest / "usearch_index.usearch"))
        info = {"model": coll.model_name, "identity": coll.stats()["identity"], "dims": dims, "rows": rows,
                "image_space": image_space, "text_space": text_space, "integer_ids": survey.integer_ids,
                "text_template": coll.text_template}
        (dest / "iconodex.json").write_text(json.dumps(info, indent=2, ensure_ascii=False))
        (dest / "README.md").write_text(dataset_card(info, list(schema.names), title or dest.name))
        report.files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
        return report

    @staticmethod
    def _check_spaces(coll: Collection, image_space: str, text_space: str) -> int:
        spaces = coll.spaces
        if image_space not in spaces:
            raise NotFoundError(f"no space {image_space!r} in {coll.path} (it has {', '.join(spaces)}); "
                                f"choose one with --image-space")
        dims = spaces[image_space]
        if text_space in spaces and spaces[text_space] != dims:
            raise ConfigError(f"spaces {image_space!r} ({dims}) and {text_space!r} ({spaces[text_space]}) differ "
                              f"in size, so they cannot be fused; choose --image-space with {spaces[text_space]} dims")
        return dims

    @staticmethod
    def _schema(survey: Survey):
        import pyarrow as pa

        strings = pa.list_(pa.string())
        columns = [("id", pa.int64()), ("item_id", pa.int64() if survey.integer_ids else pa.string())]
        if not survey.integer_ids:
            columns.append(("label", pa.int64()))
        columns += [("Title", pa.string()), ("images_urls", strings), ("links", pa.string())]
        columns += [(column_name(name), strings if multi else pa.string())
                    for name, multi in sorted(survey.fields.items())]
        return pa.schema(columns)

    @staticmethod
    def _labels(chunk: RowBatch, survey: Survey) -> np.ndarray:
        values = [int(item.id) if survey.integer_ids else item.key for item in chunk.items]
        return np.asarray(values, dtype=np.int64)

    @staticmethod
    def _table(chunk: RowBatch, labels: np.ndarray, start: int, survey: Survey, schema):
        import pyarrow as pa

        items = chunk.items
        data: dict[str, list] = {
            "id": list(range(start + 1, start + len(items) + 1)),
            "item_id": labels.tolist() if survey.integer_ids else [item.id for item in items],
            "label": labels.tolist(),
            "Title": [item.title for item in items],
            "images_urls": [[image_url(item.image)] if item.image else [] for item in items],
            "links": [json.dumps(item.links, ensure_ascii=False) if item.links else None for item in items],
        }
        for name, multi in survey.fields.items():
            values = [item.metadata.get(name) for item in items]
            data[column_name(name)] = values if multi else [v[0] if v else None for v in values]
        return pa.table({name: data[name] for name in schema.names}, schema=schema)

    # -- import -------------------------------------------------------------------------------

    def import_(self, src: Path, collection_path: Path, *, model: str | None = None, batch: int = 4096,
                advance: Callable[[int], None] | None = None, **_: Any) -> tuple[Collection, ImportReport]:
        pq = require("pyarrow.parquet", "formats", "the uform-hf format")

        src = Path(src)
        info = _read_info(src)
        images = read_fbin(_need(src / "image_embeddings.fbin"))
        texts = read_fbin(src / "text_embeddings.fbin") if (src / "text_embeddings.fbin").exists() else None
        labels = np.load(_need(src / "labels.npy"), mmap_mode="r")
        _check_aligned(images, texts, labels)
        lookup = LabelLookup(labels)
        image_space, text_space = info.get("image_space", "image"), info.get("text_space", "text")
        coll = new_imported_collection(collection_path, model=model or info.get("model", DEFAULT_MODEL),
                                       similar_space=image_space, dims=images.shape[1])
        report = ImportReport(self.name)
        writer = ImportWriter(coll, report, f"uform-hf:{src.resolve().name}", str(src), advance=advance)
        for table in _tables(src):
            for record_batch in pq.ParquetFile(table).iter_batches(batch_size=batch):
                records, rows = self._records(record_batch.to_pylist(), lookup, writer)
                vectors = {image_space: images[rows]}
                if texts is not None:
                    vectors[text_space] = texts[rows]
                writer.add(records, vectors)
        return writer.finish(), report

    @staticmethod
    def _records(rows: list[dict], lookup: LabelLookup, writer: ImportWriter) -> tuple[list[SourceRecord], list[int]]:
        records, positions = [], []
        for row in rows:
            label = row.get("label", row.get("item_id"))
            position = lookup.find(label)
            if position is None:
                writer.skip(f"row id={row.get('id')}", f"label {label!r} has no embedding row in labels.npy")
                continue
            records.append(_record(row))
            positions.append(position)
        return records, positions


def fused(image: np.ndarray, text: np.ndarray) -> np.ndarray:
    """The seed's fusion: 0.5*image + 0.5*text, renormalised; rows without text stay image only."""
    image, text = l2_normalise(image), l2_normalise(text)
    return l2_normalise(0.5 * image + 0.5 * text)


class LabelLookup:
    """Label → row of the embedding files, by binary search (16 bytes a row, no dict)."""

    def __init__(self, labels: np.ndarray) -> None:
        self.order = np.argsort(labels, kind="stable")
        self.sorted = np.asarray(labels)[self.order]

    def find(self, label: Any) -> int | None:
        try:
            value = int(label)
        except (TypeError, ValueError):
            return None
        at = int(np.searchsorted(self.sorted, value))
        if at < len(self.sorted) and self.sorted[at] == value:
            return int(self.order[at])
        return None


def _record(row: dict) -> SourceRecord:
    urls = row.get("images_urls") or []
    links = json.loads(row["links"]) if row.get("links") else {}
    metadata: dict[str, list[str]] = {}
    for column, value in row.items():
        if column in FIXED_COLUMNS or value is None:
            continue
        values = value if isinstance(value, list) else [value]
        texts = [str(v) for v in values if v is not None and str(v).strip()]
        if texts:
            metadata[field_name(column)] = texts
    return SourceRecord(id=str(row["item_id"]), image=image_ref(urls[0] if urls else None),
                        title=str(row.get("Title") or ""), metadata=metadata, links=links)


def _read_info(src: Path) -> dict:
    path = src / "iconodex.json"
    if not src.is_dir():
        raise NotFoundError(f"{src} is not a folder; give the downloaded dataset's folder")
    return json.loads(path.read_text()) if path.exists() else {}


def _need(path: Path) -> Path:
    if not path.exists():
        raise NotFoundError(f"{path.parent} has no {path.name}; is it a UForm/USearch dataset folder?")
    return path


def _tables(src: Path) -> list[Path]:
    tables = sorted((src / "data").glob("*.parquet")) or sorted(src.glob("*.parquet"))
    if not tables:
        raise NotFoundError(f"{src} has no metadata table (data/*.parquet)")
    return tables


def _check_aligned(images: np.ndarray, texts: np.ndarray | None, labels: np.ndarray) -> None:
    if labels.ndim != 1 or len(labels) != len(images):
        raise SourceError(f"labels.npy has {len(labels)} labels but image_embeddings.fbin has {len(images)} rows")
    if texts is not None and texts.shape != images.shape:
        raise SourceError(f"text_embeddings.fbin is {texts.shape}, image_embeddings.fbin is {images.shape}")


FORMATS.register("uform-hf", UformHF())
