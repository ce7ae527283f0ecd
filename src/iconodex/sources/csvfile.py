"""A CSV (or TSV) with one picture per row, such as SARI's ``iiif_url,localIdentifier`` lists.

The image column may hold a local path (relative to the CSV's folder), a plain image URL, a IIIF
Image API service base URL or an info.json URL. Without an id column, an item's id is SARI's:
``blake2b(image_value, digest_size=20)``, so ids match collections built by that tool.
Another scheme (``ftp://``, ``s3://``) fails its row. Rows are read by ``table.Table`` (encodings,
limits, quotes): a bad row is a harvest failure named ``file.csv:LINE``, and while one fails the
run deletes nothing, since the bad row may be an item stored before. An Open Images list is left
to the ``urls`` source.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError, SourceError
from ..records import ImageRef, Metadata, SourceRecord, add_value
from . import SOURCES
from .base import HarvestContext
from .table import BadRow, Row, Table
from .urls import is_open_images_header

DEFAULT_IMAGE_COLUMN = "iiif_url"
FALLBACK_IMAGE_COLUMNS = ("image", "url", "path", "file", "image_url", "filename", "file_name")
IMAGE_COLUMN_HINT = "name it with -o image_column=NAME"

# ``/iiif/2/ID``, ``/iiif/3/ID``, ``/iiif/ID``, ``/i3f/...``: a service base, not an image file.
_IIIF_PATH = re.compile(r"/(?:iiif|i3f)(?:/(?P<version>[123])(?:\.\d+)?)?/", re.I)
_IMAGE_FILE = re.compile(r"\.(?:jpe?g|png|gif|webp|tiff?|bmp|jp2)$", re.I)


class CsvSource:
    """One record per row; see the module docstring for what the image column may hold."""

    kind = "csv"
    options = frozenset({"name", "image_column", "id_column", "title_column", "multi_separator", "encoding"})  # what -o may set
    image_option = "image_column"  # what --iiif-column sets

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        image_column: str | None = None,
        id_column: str | None = None,
        title_column: str | None = None,
        multi_separator: str | None = None,
        encoding: str | None = None,
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            raise ConfigError(f"{path}: no such CSV file")
        self.name = name or f"csv:{self.path}"
        self.image_column = image_column
        self.id_column = id_column
        self.title_column = title_column
        self.multi_separator = multi_separator or None
        self.encoding = encoding
        self._check_columns(self._table().columns)  # fail at open time, with the columns listed

    @classmethod
    def detect(cls, spec: str) -> bool:
        path = Path(spec).expanduser()
        return path.suffix.lower() in (".csv", ".tsv") and path.is_file() and not is_open_images(path)

    @classmethod
    def from_spec(cls, spec: str, options: dict[str, Any]) -> CsvSource:
        known = ("name", "image_column", "id_column", "title_column", "multi_separator", "encoding")
        return cls(spec, **{key: options[key] for key in known if options.get(key)})

    def harvest(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        table = self._table()
        image_col, id_col, title_col = self._check_columns(table.columns)
        seen: set[str] = set()
        for row in table.rows():
            where = f"{self.path.name}:{row.line}"
            record = row if isinstance(row, BadRow) else self._checked_record(row, (image_col, id_col, title_col))
            if isinstance(record, BadRow):
                # The row may hold an item stored before: keep what is stored rather than delete it.
                ctx.report.fail(where, record.reason, listing=True)
                continue
            if record is None:
                if isinstance(row, Row) and any(value.strip() for value in row.cells.values()):
                    ctx.report.skip(where, f"no value in image column {image_col!r}")
                continue
            if record.id in seen:
                ctx.report.skip(where, f"duplicate id {record.id!r}")
                continue
            seen.add(record.id)
            ctx.report.harvested += 1
            yield record

    def _checked_record(self, row: Row, columns: tuple[str, str | None, str | None]) -> SourceRecord | BadRow | None:
        try:
            return self._record(row.cells, *columns)
        except SourceError as exc:
            return BadRow(row.line, str(exc))

    def _table(self) -> Table:
        return Table(self.path, encoding=self.encoding)

    def _check_columns(self, columns: list[str]) -> tuple[str, str | None, str | None]:
        listed = ", ".join(columns) or "none"
        image_col = self.image_column or next(
            (c for c in (DEFAULT_IMAGE_COLUMN, *FALLBACK_IMAGE_COLUMNS) if c in columns), None
        )
        if image_col is None or image_col not in columns:
            wanted = self.image_column or DEFAULT_IMAGE_COLUMN
            raise ConfigError(f"{self.path.name}: no image column {wanted!r}; columns are: {listed} ({IMAGE_COLUMN_HINT})")
        for option in (self.id_column, self.title_column):
            if option and option not in columns:
                raise ConfigError(f"{self.path.name}: no column {option!r}; columns are: {listed}")
        title_col = self.title_column or ("title" if "title" in columns else None)
        return image_col, self.id_column, title_col

    def _record(self, row: dict[str, str], image_col: str, id_col: str | None, title_col: str | None) -> SourceRecord | None:
        value = (row.get(image_col) or "").strip()
        if not value:
            return None
        record_id = (row.get(id_col) or "").strip() if id_col else ""
        metadata: Metadata = {}
        for column, cell in row.items():
            if column in (image_col, id_col, title_col):
                continue
            for part in self._split(cell):
                add_value(metadata, column, part)
        return SourceRecord(
            id=record_id or sari_id(value),
            image=image_ref(value, self.path.parent, iiif_column="iiif" in image_col.lower()),
            title=(row.get(title_col) or "").strip() if title_col else "",
            metadata=metadata,
        )

    def _split(self, cell: Any) -> list[str]:
        if not isinstance(cell, str):
            return []
        if self.multi_separator:
            return [part.strip() for part in cell.split(self.multi_separator)]
        return [cell]


def sari_id(value: str) -> str:
    """SARI IIIF CLIP Search's item id: ``blake2b(url, digest_size=20)`` in hex."""
    return hashlib.blake2b(value.encode("utf-8"), digest_size=20).hexdigest()


def image_ref(value: str, base_dir: Path, *, iiif_column: bool = False) -> ImageRef:
    """Classify a cell: IIIF service (info.json URL or IIIF-looking base), image URL, or a path.
    Another scheme (``ftp:``, ``s3:``…) is a ``SourceError``, not a file name."""
    scheme = urlsplit(value).scheme.lower()
    if scheme == "file":
        return ImageRef("path", unquote(urlsplit(value).path))
    if _foreign_scheme(value, scheme):
        raise SourceError(f"unsupported scheme {scheme}: in {value[:100]!r} (use http(s)://, file:// or a path)")
    if scheme not in ("http", "https"):
        path = Path(value).expanduser()
        return ImageRef("path", str(path if path.is_absolute() else (base_dir / path).resolve()))
    path = urlsplit(value).path
    if path.endswith("/info.json"):
        return ImageRef("iiif", value[: value.rindex("/info.json")], api_version=_iiif_version(path))
    looks_like_file = bool(_IMAGE_FILE.search(path)) or "/full/" in path
    if not looks_like_file and (iiif_column or _IIIF_PATH.search(path)):
        return ImageRef("iiif", value.rstrip("/"), api_version=_iiif_version(path))
    return ImageRef("url", value)


def _foreign_scheme(value: str, scheme: str) -> bool:
    """A URL this tool cannot fetch (``ftp://``, ``s3://``, ``data:``), not a file name with a colon
    (``img:1.jpg``) or a Windows drive (``C:\\``)."""
    if scheme in ("", "http", "https", "file") or len(scheme) == 1:
        return False
    return value[len(scheme) + 1:].startswith("//") or scheme in ("data", "urn")


def _iiif_version(path: str) -> str | None:
    match = _IIIF_PATH.search(path)
    version = match.group("version") if match else None
    return "1.1" if version == "1" else version


def is_open_images(path: Path) -> bool:
    """An Open Images list (``ImageID,…,OriginalURL,…``): the ``urls`` source reads it."""
    try:
        return is_open_images_header(Table(path).columns)
    except ConfigError:
        return False


SOURCES.register("csv", CsvSource)
