"""The stored view of an item."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from ..records import ImageRef, Metadata
from .codec import image_from_json

# What an Item is read from, in ``Item.from_columns``' order.
ITEM_COLUMNS = ("key", "id", "source", "title", "metadata", "links", "image", "status", "error", "version")


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
        return cls.from_columns(*(row[name] for name in ITEM_COLUMNS))

    @classmethod
    def from_columns(cls, key: int, id: str, source: str, title: str, metadata: str, links: str,  # noqa: A002
                     image: str | None, status: str, error: str | None, version: str | None) -> Item:
        """An item from its ``ITEM_COLUMNS`` in order (a plain tuple row: no lookups by name)."""
        return cls(key=key, id=id, source=source, title=title, metadata=json.loads(metadata),
                   links=json.loads(links), image=image_from_json(image), status=status, error=error,
                   version=version)

    @property
    def image_location(self) -> str | None:
        return self.image.location if self.image else None

    def to_dict(self) -> dict:
        return {
            "id": self.id, "title": self.title, "image": self.image_location,
            "image_kind": self.image.kind if self.image else None, "source": self.source,
            "metadata": self.metadata, "links": self.links, "status": self.status, "error": self.error,
        }
