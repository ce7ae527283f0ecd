"""Image–caption datasets as Hugging Face ``datasets`` exports them: parquet, JSONL or CSV.

The image column (``image``, ``image_path``, ``file_name``, ``url``… or option ``image_column``)
holds a path (relative to the dataset file), a URL, or, in parquet, a ``{"bytes", "path"}``
struct. Embedded bytes are written once into a cache folder (``<workdir>/caption-images/…``,
else the user cache) so the fetcher reads them like any local file. The caption column
(``caption``, ``text``, ``sentences``… or option ``caption_column``) may hold one string or a
list; all captions become metadata ``caption`` and the first is the title.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from ..errors import ConfigError
from ..records import ImageRef, Metadata, SourceRecord, add_value
from . import SOURCES
from .base import HarvestContext
from .documents import is_url, url_id

IMAGE_COLUMNS = ("image", "image_path", "image_file", "file_name", "filename", "path", "img", "url", "image_url")
CAPTION_COLUMNS = ("caption", "captions", "text", "sentences", "description", "title")
ID_COLUMNS = ("id", "image_id", "ImageID", "key")
_FORMATS = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv"}
CAPTION_IMAGES = "caption-images"  # the workdir's subfolder for embedded pictures
_MAGIC = ((b"\xff\xd8", ".jpg"), (b"\x89PNG", ".png"), (b"GIF8", ".gif"), (b"RIFF", ".webp"), (b"II*\x00", ".tif"))


@dataclass
class CaptionsSource:
    """Harvests an image–caption table; one record per row."""

    path: Path
    cache_dir: Path
    image_column: str | None = None
    caption_column: str | None = None
    kind = "captions"
    options = frozenset({"image_column", "caption_column"})  # what -o may set
    image_option = "image_column"  # what --iiif-column sets

    @property
    def name(self) -> str:
        return f"captions:{self.path}"

    @classmethod
    def detect(cls, spec: str) -> bool:
        path = Path(spec)
        return not is_url(spec) and path.is_file() and path.suffix.lower() in {".parquet", ".jsonl", ".ndjson"}

    @classmethod
    def from_spec(cls, spec: str, options: dict[str, Any]) -> CaptionsSource:
        path = Path(spec).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"caption dataset {spec} does not exist")
        if path.suffix.lower() not in _FORMATS:
            raise ConfigError(f"caption dataset {spec}: use a .parquet, .jsonl or .csv file")
        return cls(
            path,
            cache_dir=_cache_dir(path, options.get("workdir")),
            image_column=options.get("image_column") or None,
            caption_column=options.get("caption_column") or None,
        )

    def harvest(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        columns: tuple[str, str | None] | None = None
        for where, row in _read_rows(self.path, ctx):
            columns = columns or self._columns(row)
            record = self._record(ctx, where, row, *columns)
            if record is not None:
                ctx.report.harvested += 1
                yield record

    def _columns(self, row: dict[str, Any]) -> tuple[str, str | None]:
        """The image and caption columns: as named by the options, else the usual HF names."""
        image = self.image_column or next((c for c in IMAGE_COLUMNS if c in row), None)
        if image is None or image not in row:
            raise ConfigError(
                f"{self.path.name}: no image column (looked for {', '.join(IMAGE_COLUMNS)}); "
                f"name it with option image_column; columns: {', '.join(row)}"
            )
        caption = self.caption_column or next((c for c in CAPTION_COLUMNS if c in row and c != image), None)
        if caption is not None and caption not in row:
            raise ConfigError(f"{self.path.name}: no column {caption!r}; columns: {', '.join(row)}")
        return image, caption

    def _record(
        self, ctx: HarvestContext, where: str, row: dict[str, Any], image_column: str, caption_column: str | None
    ) -> SourceRecord | None:
        image, natural_id = self._image(row.get(image_column))
        if image is None:
            ctx.report.skip(where, f"no usable image in column {image_column!r}")
            return None
        if image.kind == "path" and not Path(image.location).is_file():
            ctx.report.skip(where, f"image file {image.location} not found")
            return None
        captions = _captions(row.get(caption_column)) if caption_column else []
        metadata: Metadata = {}
        for caption in captions:
            add_value(metadata, "caption", caption)
        for column, value in row.items():
            if column not in {image_column, caption_column} and _is_scalar(value):
                add_value(metadata, column, value)
        record_id = next((str(row[c]) for c in ID_COLUMNS if _is_scalar(row.get(c)) and str(row[c])), natural_id)
        return SourceRecord(id=record_id, image=image, title=captions[0] if captions else "", metadata=metadata)

    def _image(self, value: object) -> tuple[ImageRef | None, str]:
        """An ImageRef and a natural id for it (a relative path, a URL hash, a content hash)."""
        if isinstance(value, dict):
            data, path = value.get("bytes"), value.get("path")
            if isinstance(data, bytes | bytearray) and data:
                return self._cached(bytes(data), path), str(path or _digest(bytes(data)))
            value = path
        if not isinstance(value, str) or not value.strip():
            return None, ""
        value = value.strip()
        if is_url(value):
            return ImageRef("url", value), url_id(value)
        return ImageRef("path", str((self.path.parent / value).resolve())), value

    def _cached(self, data: bytes, original_name: object) -> ImageRef:
        """Write embedded image bytes once into the cache folder, named by their hash."""
        suffix = PurePath(str(original_name)).suffix.lower() if original_name else ""
        suffix = suffix or next((ext for magic, ext in _MAGIC if data.startswith(magic)), ".img")
        target = self.cache_dir / f"{_digest(data)}{suffix}"
        if not target.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(target.suffix + ".part")
            partial.write_bytes(data)
            partial.replace(target)  # atomic: a crash never leaves a half-written picture
        return ImageRef("path", str(target))


def _read_rows(path: Path, ctx: HarvestContext) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for each row; a broken JSONL line is reported and skipped."""
    kind = _FORMATS[path.suffix.lower()]
    if kind == "parquet":
        yield from _parquet_rows(path)
    elif kind == "jsonl":
        yield from _jsonl_rows(path, ctx)
    else:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle, delimiter=delimiter), start=2):
                yield f"{path.name}:{number}", row


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("reading parquet needs pyarrow: pip install 'iconodex[formats]'") from None
    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
        for row in batch.to_pylist():
            number += 1
            yield f"{path.name} row {number}", row


def _jsonl_rows(path: Path, ctx: HarvestContext) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                row = json.loads(line)
            except ValueError as exc:
                ctx.report.fail(where, f"not valid JSON ({exc.msg})")
                continue
            if isinstance(row, dict):
                yield where, row
            else:
                ctx.report.fail(where, f"expected a JSON object, got a JSON {type(row).__name__}")


def _captions(value: object) -> list[str]:
    """Captions from a string, a list of strings, or a list of ``{"raw"|"caption"|"text": …}``."""
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, dict):
        value = value.get("raw") or value.get("caption") or value.get("text")
        return _captions(value)
    if isinstance(value, list | tuple):
        return [text for part in value for text in _captions(part)]
    return []


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool) and str(value).strip() != ""


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _cache_dir(dataset: Path, workdir: object) -> Path:
    """Where embedded images go: the collection's workdir when given, else the user cache."""
    if workdir:
        base = Path(str(workdir)).expanduser()
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "iconodex"
    tag = hashlib.blake2b(str(dataset).encode(), digest_size=6).hexdigest()
    return base / CAPTION_IMAGES / f"{dataset.stem}-{tag}"


SOURCES.register("captions", CaptionsSource)
