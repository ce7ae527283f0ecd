"""Lists of image URLs: Open Images-style CSVs and plain text files with one URL per line.

Open Images CSV (``ImageID,Subset,OriginalURL,OriginalLandingURL,License,AuthorProfileURL,
Author,Title,OriginalSize,OriginalMD5,Thumbnail300KURL,Rotation``): id = ``ImageID``, picture =
``Thumbnail300KURL`` (``OriginalURL`` when a row has no thumbnail, or always with option
``prefer_thumbnail=false``: the originals are often 10 MB or more), title = ``Title``, page link =
``OriginalLandingURL``, every other column metadata (``Author``, ``License``…). A text file:
id = SARI's ``blake2b(url)``. A bad row fails alone with its line number; the rest goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..records import ImageRef, Metadata, SourceRecord, add_value
from . import SOURCES
from .base import HarvestContext
from .documents import is_url, option_flag, url_id
from .table import BadRow, Table, detect_encoding

_OPEN_IMAGES_URL = "OriginalURL"
_THUMBNAIL = "Thumbnail300KURL"
_NOT_METADATA = {"ImageID", "Title", _OPEN_IMAGES_URL, _THUMBNAIL, "OriginalLandingURL"}
_TEXT_LIST_SUFFIXES = {".txt", ".lst", ".urls"}


def is_open_images_header(columns: list[str]) -> bool:
    """Open Images' image lists name each image ``ImageID`` and its picture ``OriginalURL``."""
    return "ImageID" in columns and _OPEN_IMAGES_URL in columns


@dataclass
class UrlListSource:
    """Harvests an Open Images CSV or a text file of image URLs."""

    path: Path
    prefer_thumbnail: bool = True
    encoding: str | None = None
    kind = "urls"
    options = frozenset({"prefer_thumbnail", "encoding"})  # what -o may set
    image_option = None  # no column of pictures for --iiif-column to name

    @property
    def name(self) -> str:
        return f"urls:{self.path}"

    @classmethod
    def detect(cls, spec: str) -> bool:
        path = Path(spec)
        if is_url(spec) or not path.is_file():
            return False
        if path.suffix.lower() == ".csv":
            try:
                return is_open_images_header(Table(path).columns)
            except ConfigError:
                return False
        return path.suffix.lower() in _TEXT_LIST_SUFFIXES and is_url(_first_line(path))

    @classmethod
    def from_spec(cls, spec: str, options: dict[str, Any]) -> UrlListSource:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ConfigError(f"URL list {spec} does not exist")
        thumbnail = options.get("prefer_thumbnail")
        return cls(path, prefer_thumbnail=True if thumbnail is None else option_flag(thumbnail),
                   encoding=options.get("encoding") or None)

    def harvest(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        table = self._table()
        rows = self._csv_records(ctx, table) if table else self._text_records(ctx)
        for record in rows:
            ctx.report.harvested += 1
            yield record

    def _table(self) -> Table | None:
        """The Open Images table, or None for a text list."""
        if self.path.suffix.lower() in _TEXT_LIST_SUFFIXES:
            return None
        table = Table(self.path, encoding=self.encoding, delimiter=",")
        if not is_open_images_header(table.columns):
            raise ConfigError(f"{self.path.name}: not an Open Images list (no ImageID and OriginalURL columns); "
                              "for another CSV use --source-type csv")
        return table

    def _text_records(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        encoding = self.encoding or detect_encoding(self.path)
        with self.path.open(encoding=encoding, errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                url = line.strip()
                if not url or url.startswith("#"):
                    continue
                if not is_url(url):
                    ctx.report.skip(f"{self.path.name}:{number}", "not an http(s) URL")
                    continue
                yield SourceRecord(id=url_id(url), image=ImageRef("url", url), links={"page": url})

    def _csv_records(self, ctx: HarvestContext, table: Table) -> Iterator[SourceRecord]:
        for row in table.rows():
            where = f"{self.path.name}:{row.line}"
            if isinstance(row, BadRow):
                ctx.report.fail(where, row.reason, listing=True)
                continue
            record = self._csv_record(row.cells)
            if record is None:
                ctx.report.skip(where, f"no http(s) URL in {self._url_columns()}")
                continue
            yield record

    def _url_columns(self) -> str:
        return f"{_THUMBNAIL} or {_OPEN_IMAGES_URL}" if self.prefer_thumbnail else _OPEN_IMAGES_URL

    def _csv_record(self, row: dict[str, str]) -> SourceRecord | None:
        thumbnail = row.get(_THUMBNAIL) if self.prefer_thumbnail else None
        url = (thumbnail or row.get(_OPEN_IMAGES_URL) or "").strip()
        if not is_url(url):
            return None
        metadata: Metadata = {}
        for column, value in row.items():
            if column not in _NOT_METADATA:
                add_value(metadata, column, value)
        landing = (row.get("OriginalLandingURL") or "").strip()
        return SourceRecord(
            id=(row.get("ImageID") or "").strip() or url_id(url),
            image=ImageRef("url", url),
            title=(row.get("Title") or "").strip(),
            metadata=metadata,
            links={"page": landing} if landing else {},
        )


def _first_line(path: Path) -> str:
    try:
        encoding = detect_encoding(path)
    except ConfigError:
        return ""
    with path.open(encoding=encoding, errors="replace") as handle:
        for line in handle:
            if line.strip():
                return line.strip()
    return ""


SOURCES.register("urls", UrlListSource)
