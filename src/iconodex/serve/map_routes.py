"""The collection map: the ``/map`` page and the JSON and atlases it draws from (``iconodex map``
computes and stores them). Data routes follow the server's read rules like every other read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from ..map import map_clusters, map_points
from ..map_atlas import CELL, PER_ATLAS, ROW, atlas_count, atlas_jpeg
from .security import require_read
from .state import state_of

data = APIRouter(dependencies=[Depends(require_read)], tags=["map"])
page = APIRouter()


@data.get("/map/points", summary="Every mapped item: ids, titles, 2-D points and clusters")
def points(request: Request) -> dict[str, Any]:
    """Columns rather than objects: a 100k-item map is a few MB. ``x``/``y`` lie in [0, 1000];
    item ``i`` is cell ``i % per_atlas`` of atlas ``i // per_atlas``."""
    store = state_of(request).coll.store
    rows = map_points(store)
    return {"ids": [r["id"] for r in rows], "titles": [r["title"] for r in rows],
            "x": [r["x"] for r in rows], "y": [r["y"] for r in rows], "cluster": [r["cluster"] for r in rows],
            "atlas": {"count": atlas_count(store), "cell": CELL, "row": ROW, "per_atlas": PER_ATLAS}}


@data.get("/map/clusters", summary="The map's named clusters: name, terms, size and centre")
def clusters(request: Request) -> dict[str, Any]:
    return {"clusters": map_clusters(state_of(request).coll.store)}


@data.get("/map/atlas/{atlas}.jpg", summary="One sheet of the map's thumbnails", response_class=Response,
          responses={200: {"content": {"image/jpeg": {}}}})
def atlas(request: Request, atlas: int) -> Response:
    return Response(atlas_jpeg(state_of(request).coll.store, atlas), media_type="image/jpeg",
                    headers={"Cache-Control": "no-cache"})


@page.get("/map", include_in_schema=False)
def map_page() -> HTMLResponse:
    from .app import STATIC, page_headers

    return HTMLResponse(STATIC.joinpath("map.html").read_text(encoding="utf-8"), headers=page_headers())
