"""The format seam: an exporter writes a collection's items and vectors to files another tool
reads; an importer makes a searchable collection from such files without re-embedding."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..collection import Collection


@dataclass(slots=True)
class ExportReport:
    format: str
    items: int = 0
    files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item id, why)

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "items": self.items, "files": self.files,
                "skipped": [list(pair) for pair in self.skipped]}


@dataclass(slots=True)
class ImportReport:
    format: str
    items: int = 0
    spaces: dict[str, int] = field(default_factory=dict)  # space -> vectors imported
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (row or id, why)

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "items": self.items, "spaces": self.spaces,
                "skipped": [list(pair) for pair in self.skipped]}


class Format(Protocol):
    """One file format. ``export`` streams from the collection; ``import_`` streams into a new
    collection at ``collection_path`` (refusing an existing one) and returns it open."""

    name: str
    summary: str

    def export(self, coll: Collection, dest: Path, **options: Any) -> ExportReport: ...

    def import_(self, src: Path, collection_path: Path, **options: Any) -> tuple[Collection, ImportReport]: ...
