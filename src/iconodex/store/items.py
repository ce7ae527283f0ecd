"""The stored view of an item."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from ..records import ImageRef, Metadata
from .codec import image_from_json


@dataclass(slots=True)
class Item:
    key: int
    id: str
    source: str
    title: str
    metadata: Metadata = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    image: ImageRef | None = None
    status: str = "pending"
    error: str | None = None
    version: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Item:
        return cls(
            key=row["key"], id=row["id"], source=row["source"], title=row["title"],
            metadata=json.loads(row["metadata"]), links=json.loads(row["links"]),
            image=image_from_json(row["image"]), status=row["status"], error=row["error"],
            version=row["version"],
        )

    @property
    def image_location(self) -> str | None:
        return self.image.location if self.image else None

    def to_dict(self) -> dict:
        return {
            "id": self.id, "title": self.title, "image": self.image_location,
            "image_kind": self.image.kind if self.image else None, "source": self.source,
            "metadata": self.metadata, "links": self.links, "status": self.status, "error": self.error,
        }
