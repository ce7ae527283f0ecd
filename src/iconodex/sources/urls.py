"""Lists of image URLs: Open Images-style CSVs and plain text files with one URL per line.

Open Images CSV (``ImageID,Subset,OriginalURL,OriginalLandingURL,License,AuthorProfileURL,
Author,Title,OriginalSize,OriginalMD5,Thumbnail300KURL,Rotation``): id = ``ImageID``, picture =
``OriginalURL`` (``Thumbnail300KURL`` with option ``prefer_thumbnail``), title = ``Title``, page
link = ``OriginalLandingURL``, every other column metadata. A text file: id = SARI's
``blake2b(url)``. A bad row is skipped with its line number; the rest goes on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..records import ImageRef, Metadata, SourceRecord, add_value
from . import SOURCES
from .base import HarvestContext
from .documents import is_url, option_flag, url_id

_OPEN_IMAGES_URL = "OriginalURL"
_THUMBNAIL = "Thumbnail300KURL"
_NOT_METADATA = {"ImageID", "Title", _OPEN_IMAGES_URL, _THUMBNAIL, "OriginalLandingURL"}


@dataclass
class UrlListSource:
    """Harvests an Open Images CSV or a text file of image URLs."""

    path: Path
    prefer_thumbnail: bool = False
    kind = "urls"

    @property
    def name(self) -> str:
        return f"urls:{self.path}"

    @classmethod
    def detect(cls, spec: str) -> bool:
        path = Path(spec)
        if is_url(spec) or not path.is_file():
            return False
        first = _first_line(path)
        if path.suffix.lower() == ".csv":
            return _OPEN_IMAGES_URL in first.split(",")
        return path.suffix.lower() in {".txt", ".lst", ".urls"} and is_url(first)

    @classmethod
    def from_spec(cls, spec: str, options: dict[str, Any]) -> UrlListSource:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ConfigError(f"URL list {spec} does not exist")
        return cls(path, prefer_thumbnail=option_flag(options.get("prefer_thumbnail")))

    def harvest(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        rows = self._csv_records(ctx) if _OPEN_IMAGES_URL in _first_line(self.path) else self._text_records(ctx)
        for record in rows:
            ctx.report.harvested += 1
            yield record

    def _text_records(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        with self.path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                url = line.strip()
                if not url or url.startswith("#"):
                    continue
                if not is_url(url):
                    ctx.report.skip(f"{self.path.name}:{number}", "not an http(s) URL")
                    continue
                yield SourceRecord(id=url_id(url), image=ImageRef("url", url), links={"page": url})

    def _csv_records(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        with self.path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                record = self._csv_record(row)
                if record is None:
                    ctx.report.skip(f"{self.path.name}:{number}", f"no http(s) URL in {self._url_column()}")
                    continue
                yield record

    def _url_column(self) -> str:
        return _THUMBNAIL if self.prefer_thumbnail else _OPEN_IMAGES_URL

    def _csv_record(self, row: dict[str, str | None]) -> SourceRecord | None:
        url = (row.get(self._url_column()) or row.get(_OPEN_IMAGES_URL) or "").strip()
        if not is_url(url):
            return None
        metadata: Metadata = {}
        for column, value in row.items():
            if column and column not in _NOT_METADATA:
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
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        for line in handle:
            if line.strip():
                return line.strip()
    return ""


SOURCES.register("urls", UrlListSource)
