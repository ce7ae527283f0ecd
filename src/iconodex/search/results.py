"""What a search returns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..records import ImageRef, Metadata

T = TypeVar("T")
U = TypeVar("U")


@dataclass(slots=True)
class SearchResult:
    """One hit. ``score`` is the hybrid cosine score (comparable across queries of one model);
    ``scores`` holds each leg's own similarity (``image``, ``text``, ``visual``…) and, when the
    keyword leg matched, its rank. ``image_ref`` is the picture's full reference (what a server's
    thumbnail needs), kept from the row the result was read from."""

    id: str
    key: int
    score: float
    title: str
    image: str | None
    source: str
    metadata: Metadata = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    image_ref: ImageRef | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields but ``key`` and ``image_ref``, sharing nothing mutable with the result; built by hand because
        ``dataclasses.asdict`` deep-copies value by value (15% of a served search's CPU)."""
        return {"id": self.id, "score": self.score, "title": self.title, "image": self.image, "source": self.source,
                "metadata": {name: list(values) for name, values in self.metadata.items()},
                "links": dict(self.links), "scores": dict(self.scores)}


class SearchResults(list[T]):
    """The results of one search (a list), plus what the relevance cut did: ``min_score`` is the cut
    applied (None: none), ``below_cut`` how many ranked candidates it left out."""

    def __init__(self, results: Iterable[T] = (), min_score: float | None = None, below_cut: int = 0) -> None:
        super().__init__(results)
        self.min_score = min_score
        self.below_cut = below_cut

    @property
    def no_good_match(self) -> bool:
        """True when there were candidates but none scored at least the cut."""
        return not self and self.below_cut > 0

    def replaced(self, results: Iterable[U]) -> SearchResults[U]:
        """The same cut, around other rows (a server's view of each result)."""
        return SearchResults(results, self.min_score, self.below_cut)
