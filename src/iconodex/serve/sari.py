"""``/query``: the SARI IIIF CLIP Search REST contract, so its existing clients keep working.

``GET /query?str=TEXT[&minScore=0.2][&limit=10]`` → ``[{score, imageId, url, link}]`` sorted by
score, plus ``url=IMAGE_URL`` instead of ``str`` and ``POST`` with an uploaded picture (any file
field of a multipart form). As in SARI, ``minScore`` defaults to 0.2 (its swagger misspells it
``minSore``; both are accepted). Results are ranked by score alone (no keyword fusion), so the
list is always in descending score order, as SARI's clients assume.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile

from .errors import ApiError
from .inputs import read_upload
from .queries import SearchRequest, run_search
from .security import require_read
from .state import state_of
from .views import sari_record

router = APIRouter(dependencies=[Depends(require_read)], tags=["SARI compatible"])

SARI_MIN_SCORE = 0.2
SARI_LIMIT = 10
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,9}")  # longer ones are out of range anyway


def _request(text: str | None, min_score: float | None, misspelt: float | None, limit: int | None,
             **picture: Any) -> SearchRequest:
    chosen = min_score if min_score is not None else misspelt
    return SearchRequest(text=text, keyword=False, limit=SARI_LIMIT if limit is None else limit,
                         min_score=SARI_MIN_SCORE if chosen is None else chosen, **picture)


async def _answer(request: Request, query: SearchRequest) -> list[dict[str, Any]]:
    hits = await run_search(state_of(request), query)
    base = str(request.base_url)
    return [sari_record(result, ref, base) for result, ref in hits]


@router.get("/query", summary="SARI: search by text (str) or by image URL (url)")
async def query_get(
    request: Request,
    text: Annotated[str | None, Query(alias="str", description="A string to query the index with.")] = None,
    url: Annotated[str | None, Query(description="Search by the picture at this URL instead.")] = None,
    min_score: Annotated[float | None, Query(alias="minScore", description="Minimum score (default 0.2).")] = None,
    misspelt: Annotated[float | None, Query(alias="minSore", include_in_schema=False)] = None,
    limit: Annotated[int | None, Query(description="Maximum number of results (default 10).")] = None,
) -> list[dict[str, Any]]:
    if not (text or url):
        raise ApiError(400, "give str=TEXT or url=IMAGE_URL")
    return await _answer(request, _request(text, min_score, misspelt, limit, image_url=url))


@router.post("/query", summary="SARI: search by an uploaded picture (multipart form, any file field)")
async def query_post(
    request: Request,
    min_score: Annotated[float | None, Query(alias="minScore")] = None,
    limit: Annotated[int | None, Query()] = None,
) -> list[dict[str, Any]]:
    form = await request.form(max_files=1, max_fields=20)
    upload = next((value for value in form.values() if isinstance(value, UploadFile)), None)
    if upload is None:
        raise ApiError(400, "send the picture as a file field of a multipart/form-data body")
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    data = await read_upload(upload, state_of(request).settings.max_upload_bytes)
    query = _request(fields.get("str"), _number(fields.get("minScore"), min_score), None,
                     _whole_number(fields.get("limit"), limit), upload=data)
    return await _answer(request, query)


def _whole_number(raw: str | None, fallback: int | None) -> int | None:
    """A form's ``limit``: ASCII digits only (``int`` also takes "²"-like digits and fails on 5,000 of them);
    the range is checked with every other route's."""
    if raw is None or not raw.strip():
        return fallback
    if not WHOLE_NUMBER.fullmatch(raw.strip()):
        raise ApiError(400, f"limit must be a whole number, got {raw[:40]!r}")
    return int(raw)


def _number(raw: str | None, fallback: float | None) -> float | None:
    if raw is None or not raw.strip():
        return fallback
    try:
        return float(raw)
    except ValueError:
        raise ApiError(400, f"minScore must be a number, got {raw[:40]!r}") from None
