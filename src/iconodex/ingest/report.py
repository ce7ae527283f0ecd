"""What an ingest run did, and how it is summed up: one line of counts, then one line per kind of
failure and skip, so even a quiet run names what went wrong."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..sources.base import HarvestReport

MOST_KINDS = 8  # lines of kinds shown; the rest are counted and left to `iconodex info --failures`
_NOUNS = {"source failed": "document", "failed": "item", "skipped": "record"}


@dataclass
class IngestReport:
    source: str
    harvest: HarvestReport
    run: int = 0
    added: int = 0
    updated: int = 0
    retried: int = 0  # items that failed last time, tried again unchanged
    unchanged: int = 0
    deleted: int = 0
    embedded: int = 0
    indexed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.harvest.failed and not self.nothing_taken

    @property
    def nothing_taken(self) -> bool:
        """The source offered records and every one was skipped: nothing to index is no success."""
        return self.harvest.harvested == 0 and self.harvest.unchanged == 0 and bool(self.harvest.skipped)

    def source_problems(self) -> list[tuple[str, str, str]]:
        """(kind, where, reason) of the source-level failures and skips, as the store keeps them."""
        return ([("failed", where, reason) for where, reason in self.harvest.failed]
                + [("skipped", where, reason) for where, reason in self.harvest.skipped])

    def counts_line(self) -> str:
        line = (f"{self.added} added, {self.updated} updated, {self.retried} retried, {self.unchanged} unchanged, "
                f"{self.deleted} deleted, {self.indexed} indexed, {len(self.failed)} failed")
        if not self.harvest.complete:
            line += " (listing incomplete: absent items kept)"
        notes = [text for text in (self.harvest.note, self.harvest.partial) if text]
        if notes and self.harvest.complete:
            line += f" ({'; '.join(notes)})"
        return line

    def kind_lines(self) -> list[str]:
        """One line per kind of problem: ``failed: 3 items: HTTP 404 Not Found (e.g. a.jpg)``."""
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for label, problems in (("source failed", self.harvest.failed), ("failed", self.failed),
                                ("skipped", self.harvest.skipped)):
            for where, reason in problems:
                groups[(label, gist(reason))].append(where)
        lines = []
        for (label, reason), wheres in list(groups.items())[:MOST_KINDS]:
            noun = _NOUNS[label] + ("s" if len(wheres) > 1 else "")
            example = wheres[0] if len(wheres) == 1 else f"e.g. {wheres[0]}"
            lines.append(f"{label}: {len(wheres)} {noun}: {reason} ({example})")
        if self.nothing_taken:
            lines.append("nothing to index: the source offered no record that could be used")
        hidden = len(groups) - MOST_KINDS
        if hidden > 0:
            lines.append(f"… and {hidden} more kinds: iconodex info --failures")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "run": self.run, "added": self.added, "updated": self.updated,
            "retried": self.retried, "unchanged": self.unchanged, "deleted": self.deleted,
            "embedded": self.embedded, "indexed": self.indexed,
            "failed": [{"id": i, "reason": r} for i, r in self.failed],
            "harvest": {"harvested": self.harvest.harvested, "complete": self.harvest.complete,
                        "partial": self.harvest.partial, "note": self.harvest.note,
                        "skipped": [{"where": w, "reason": r} for w, r in self.harvest.skipped],
                        "failed": [{"where": w, "reason": r} for w, r in self.harvest.failed]},
        }


def gist(reason: str) -> str:
    """A reason without the location it starts with (``http://h/a.jpg: HTTP 404`` → ``HTTP 404``),
    so that the same failure of many items reads as one kind."""
    head, sep, rest = reason.partition(": ")
    if sep and rest and " " not in head and any(mark in head for mark in "/\\."):
        return rest
    return reason
