"""What a search returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..records import Metadata


@dataclass(slots=True)
class SearchResult:
    """One hit. ``score`` is the hybrid cosine score (comparable across queries of one model);
    ``scores`` holds each leg's own similarity (``image``, ``text``, ``visual``…) and, when the
    keyword leg matched, its rank."""

    id: str
    key: int
    score: float
    title: str
    image: str | None
    source: str
    metadata: Metadata = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("key")
        return data
