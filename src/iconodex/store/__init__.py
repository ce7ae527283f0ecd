"""The embedded store: SQLite for items, metadata, keyword search, status and vectors."""

from .db import ItemStore, UpsertCounts, WorkItem
from .items import Item

__all__ = ["Item", "ItemStore", "UpsertCounts", "WorkItem"]
