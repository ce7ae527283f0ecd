"""One search, whatever route asked for it: limits checked on the event loop, then the client's
picture fetched and decoded in the picture pool, and ranking in the search pool."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from PIL import Image

from ..records import ImageRef
from ..search import SearchResult, SearchResults
from .errors import ApiError
from .inputs import picture_from_bytes, picture_from_url
from .state import ServerState

MAX_OFFSET = 10_000
MAX_FILTERS = 20


@dataclass
class SearchRequest:
    """What a client asked for; at most one picture (``upload`` bytes or ``image_url``)."""

    text: str | None = None
    upload: bytes | None = None
    image_url: str | None = None
    like: str | None = None
    alpha: float | None = None
    keyword: bool | None = None
    limit: int = 20
    offset: int = 0
    min_score: float | None = None
    where: dict[str, list[str]] = field(default_factory=dict)

    @property
    def needs_model(self) -> bool:
        return bool(self.text and self.text.strip()) or self.upload is not None or bool(self.image_url)


Hit = tuple[SearchResult, ImageRef | None]


def parse_where(values: list[str] | None) -> dict[str, list[str]]:
    """``field:value`` filters (repeatable; repeated fields mean any of the values)."""
    where: dict[str, list[str]] = {}
    for raw in values or []:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip() or not value.strip():
            raise ApiError(400, f"where expects field:value, got {raw[:80]!r}")
        where.setdefault(name.strip(), []).append(value.strip())
    if len(where) > MAX_FILTERS:
        raise ApiError(400, f"at most {MAX_FILTERS} filter fields")
    return where


def check_limits(request: SearchRequest, state: ServerState) -> None:
    settings = state.settings
    if request.text is not None and len(request.text) > settings.max_query_chars:
        raise ApiError(400, f"the query is {len(request.text)} characters; the limit is {settings.max_query_chars}")
    if not 1 <= request.limit <= settings.max_limit:
        raise ApiError(400, f"limit must be between 1 and {settings.max_limit}")
    if not 0 <= request.offset <= MAX_OFFSET:
        raise ApiError(400, f"offset must be between 0 and {MAX_OFFSET}")
    for name, value in (("min_score", request.min_score), ("alpha", request.alpha)):
        if value is not None and not math.isfinite(value):
            raise ApiError(400, f"{name} must be a finite number, not {value}")
    if request.upload is not None and request.image_url:
        raise ApiError(400, "give either an uploaded picture or an image URL, not both")
    if not (request.needs_model or request.like):
        raise ApiError(400, "nothing to search for: give a text (q), a picture (image or url) or an item id (like)")


async def run_search(state: ServerState, request: SearchRequest) -> SearchResults[Hit]:
    """Ranked results with each item's image reference (for thumbnails and SARI's ``url``)."""
    check_limits(request, state)
    if request.needs_model:
        state.loader.require()
    image = None
    if request.upload is not None or request.image_url:
        image = await state.run_picture(_picture, state, request)
    return await state.run(_search, state, request, image)


def _picture(state: ServerState, request: SearchRequest) -> Image.Image:
    if request.upload is not None:
        return picture_from_bytes(request.upload, state.settings.max_pixels)
    return picture_from_url(state, request.image_url)


def _search(state: ServerState, request: SearchRequest, image: Image.Image | None) -> SearchResults[Hit]:
    results = state.coll.search(
        request.text or None, image=image, like=request.like or None, alpha=request.alpha,
        keyword=request.keyword, limit=request.limit, offset=request.offset, min_score=request.min_score,
        where=request.where or None)
    return results.replaced((result, result.image_ref) for result in results)
