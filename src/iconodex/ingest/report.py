"""What an ingest run did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..sources.base import HarvestReport


@dataclass
class IngestReport:
    source: str
    harvest: HarvestReport
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    embedded: int = 0
    indexed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.harvest.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "deleted": self.deleted, "embedded": self.embedded, "indexed": self.indexed,
            "failed": [{"id": i, "reason": r} for i, r in self.failed],
            "harvest": {"harvested": self.harvest.harvested, "complete": self.harvest.complete,
                        "skipped": [{"where": w, "reason": r} for w, r in self.harvest.skipped],
                        "failed": [{"where": w, "reason": r} for w, r in self.harvest.failed]},
        }
