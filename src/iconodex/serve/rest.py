"""The REST API: search, items, facets, health and stats (reads), ingest and delete (writes)."""

from __future__ import annotations

import dataclasses
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ..errors import NotFoundError
from ..search import SearchResults
from ..store import Item
from .errors import ApiError
from .inputs import is_json, read_json_object, read_upload
from .queries import Hit, SearchRequest, parse_where, run_search
from .security import require_read, require_write, sees_inside
from .state import ServerState, state_of
from .thumbnails import local_thumbnail
from .views import item_view, public_stats, result_view, thumbnail_url

reads = APIRouter(dependencies=[Depends(require_read)])
writes = APIRouter(dependencies=[Depends(require_write)], tags=["changes"])
_ingest_lock = threading.Lock()

Text = Annotated[str | None, Query(description="What to look for, in any language.")]
Url = Annotated[str | None, Query(description="Search by a picture at this http(s) URL (public hosts only).")]
Like = Annotated[str | None, Query(description="More like this item id (works while the model loads).")]
Alpha = Annotated[float | None, Query(ge=0, le=1, description="0 = catalogue text only, 1 = picture only.")]
Keyword = Annotated[bool | None, Query(description="Merge the keyword (full-text) leg; default: on.")]
Limit = Annotated[int, Query(description="Results per page.")]
Offset = Annotated[int, Query(description="Results to skip (pagination).")]
MinScore = Annotated[float | None, Query(alias="min_score", description=(
    "Drop results scoring below this; default for text: the model's measured relevance cut; 0: no cut."))]
Where = Annotated[list[str] | None, Query(description="Metadata filter field:value, repeatable.")]


def _page(http: Request, hits: SearchResults[Hit], request: SearchRequest) -> dict[str, Any]:
    """``min_score``: the relevance cut applied; ``no_good_match``: candidates existed, none passed it."""
    inside = sees_inside(http)
    return {"results": [result_view(result, ref, inside) for result, ref in hits],
            "limit": request.limit, "offset": request.offset, "min_score": hits.min_score,
            "no_good_match": hits.no_good_match}


@reads.get("/search", tags=["search"], summary="Search by text, picture URL or item (GET)")
async def search_get(request: Request, q: Text = None, url: Url = None, like: Like = None, alpha: Alpha = None,
                     keyword: Keyword = None, limit: Limit = 20, offset: Offset = 0, min_score: MinScore = None,
                     where: Where = None) -> dict[str, Any]:
    query = SearchRequest(text=q, image_url=url, like=like, alpha=alpha, keyword=keyword, limit=limit,
                          offset=offset, min_score=min_score, where=parse_where(where))
    return _page(request, await run_search(state_of(request), query), query)


class SearchBody(BaseModel):
    """``POST /search`` as JSON: the fields of ``GET /search``; a picture goes as a multipart upload."""

    model_config = ConfigDict(extra="forbid")
    q: str | None = None
    url: str | None = None
    like: str | None = None
    alpha: float | None = Field(default=None, ge=0, le=1)
    keyword: bool | None = None
    limit: int = 20
    offset: int = 0
    min_score: float | None = None
    where: list[str] | str | None = Field(default=None, description="field:value, or a list of them")


JSON_BODY = {"requestBody": {"content": {"application/json": {"schema": SearchBody.model_json_schema()}}}}


@reads.post("/search", tags=["search"], openapi_extra=JSON_BODY,
            summary="Search with an uploaded picture (multipart form), or the GET fields as JSON")
async def search_post(request: Request, image: Annotated[UploadFile | None, File()] = None,
                      q: Annotated[str | None, Form()] = None, url: Annotated[str | None, Form()] = None,
                      like: Annotated[str | None, Form()] = None,
                      alpha: Annotated[float | None, Form(ge=0, le=1)] = None,
                      keyword: Annotated[bool | None, Form()] = None, limit: Annotated[int, Form()] = 20,
                      offset: Annotated[int, Form()] = 0, min_score: Annotated[float | None, Form()] = None,
                      where: Annotated[list[str] | None, Form()] = None) -> dict[str, Any]:
    state = state_of(request)
    if is_json(request):
        query = _json_query(await read_json_object(request, SearchBody))
    else:
        upload = await read_upload(image, state.settings.max_upload_bytes) if image is not None else None
        query = SearchRequest(text=q, upload=upload, image_url=url, like=like, alpha=alpha, keyword=keyword,
                              limit=limit, offset=offset, min_score=min_score, where=parse_where(where))
    return _page(request, await run_search(state, query), query)


def _json_query(body: SearchBody) -> SearchRequest:
    where = [body.where] if isinstance(body.where, str) else body.where
    return SearchRequest(text=body.q, image_url=body.url, like=body.like, alpha=body.alpha, keyword=body.keyword,
                         limit=body.limit, offset=body.offset, min_score=body.min_score, where=parse_where(where))


def _item(state: ServerState, item_id: str) -> Item:
    item = state.coll.get(item_id)
    if item is None:
        raise NotFoundError(f"no item with id {item_id!r} in this collection")
    return item


@reads.get("/items/{item_id:path}/similar", tags=["items"], summary="Items that look like this one")
async def similar(request: Request, item_id: str, alpha: Alpha = None, limit: Limit = 20,
                  offset: Offset = 0) -> dict[str, Any]:
    query = SearchRequest(like=item_id, alpha=alpha, keyword=False, limit=limit, offset=offset)
    return _page(request, await run_search(state_of(request), query), query)


@reads.get("/items/{item_id:path}/image", tags=["items"], summary="The item's picture, small",
           response_class=Response, responses={200: {"content": {"image/jpeg": {}}}, 302: {}})
def item_image(request: Request, item_id: str) -> Response:
    state = state_of(request)
    item = _item(state, item_id)
    if item.image is not None and item.image.kind == "path":
        data = local_thumbnail(item.image.location, state.settings.thumbnail_side)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})
    target = thumbnail_url(item.id, item.image, item.links)
    if not target:
        raise NotFoundError(f"item {item_id!r} has no picture")
    return RedirectResponse(target, status_code=302)


@reads.get("/items/{item_id:path}", tags=["items"], summary="One item: metadata, links, picture")
async def get_item(request: Request, item_id: str) -> dict[str, Any]:
    # Async, with the read in a worker thread: FastAPI runs a plain route there and then checks its
    # answer in another thread hand-off.
    item = await run_in_threadpool(_item, state_of(request), item_id)
    return item_view(item, sees_inside(request))


@reads.get("/facets", tags=["facets"], summary="Metadata fields that can filter a search")
def fields(request: Request) -> dict[str, Any]:
    pairs = state_of(request).coll.store.facet_fields()
    return {"fields": [{"field": name, "items": count} for name, count in pairs]}


@reads.get("/facets/{field}", tags=["facets"], summary="The most common values of a metadata field")
def facet(request: Request, field: str, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> dict[str, Any]:
    pairs = state_of(request).coll.facets(field, limit)
    return {"field": field, "values": [{"value": value, "count": count} for value, count in pairs]}


@reads.get("/stats", tags=["service"], summary="What the collection holds")
def stats(request: Request) -> dict[str, Any]:
    data = state_of(request).coll.stats()
    return data if sees_inside(request) else public_stats(data)


class IngestBody(BaseModel):
    source: str = Field(description="A source spec as on the command line: a folder, a CSV, a URL…")
    type: str | None = Field(default=None, description="The source type, when it cannot be guessed.")
    options: dict[str, Any] = Field(default_factory=dict)


@writes.post("/ingest", summary="Harvest a source into the collection (API key)")
async def ingest(request: Request, body: IngestBody) -> dict[str, Any]:
    state = state_of(request)
    state.loader.require()
    if not _ingest_lock.acquire(blocking=False):
        raise ApiError(409, "an ingest is already running; try again when it is done")
    try:
        report = await state.run_unbounded(state.coll.ingest, body.source, source_type=body.type,
                                           options=body.options, quiet=True,
                                           confinement=state.settings.confinement)
    finally:
        _ingest_lock.release()
    return dataclasses.asdict(report)


@writes.delete("/items/{item_id:path}", summary="Remove an item (API key)")
def delete_item(request: Request, item_id: str) -> dict[str, Any]:
    state = state_of(request)
    _item(state, item_id)
    return {"deleted": state.coll.delete([item_id])}
