"""``/sparql``: the SPARQL 1.1 protocol around the pseudo-SPARQL pattern, so an engine's
``SERVICE <…/sparql> { ?r a clip:Request ; … }`` gets iconodex results.

Queries come as ``GET ?query=``, a form ``POST`` or an ``application/sparql-query`` body; answers
are SPARQL results JSON or XML by ``Accept``; errors are plain text with a 4xx status, as the
protocol expects, never JSON and never a traceback.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response

from ..errors import IconodexError
from .errors import ApiError, one_line, status_for
from .queries import Hit, SearchRequest, run_search
from .security import require_read
from .sparql import ClipQuery, SparqlError, parse
from .sparql_results import Binding, bnode, choose_format, double, literal, render, uri
from .state import state_of
from .views import sari_record

log = logging.getLogger(__name__)
router = APIRouter(dependencies=[Depends(require_read)], tags=["SPARQL"])

DEFAULT_LIMIT = 100  # SERVICE requests carry no LIMIT (the seed crashed on that)
MAX_QUERY_BYTES = 10_000
FORM_TYPE = "application/x-www-form-urlencoded"
QUERY_TYPE = "application/sparql-query"
QueryParam = Annotated[str | None, Query(description="A SELECT over the clip:Request pattern.")]


@router.get("/sparql", summary="Pseudo-SPARQL (SARI's clip:Request pattern)")
async def sparql_get(request: Request, query: QueryParam = None) -> Response:
    return await _answer(request, query)


@router.post("/sparql", summary="Pseudo-SPARQL by POST (form or application/sparql-query)")
async def sparql_post(request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == QUERY_TYPE:
        body = await request.body()
        return await _answer(request, body.decode("utf-8", errors="replace"))
    if content_type == FORM_TYPE:
        form = await request.form()
        value = form.get("query")
        return await _answer(request, value if isinstance(value, str) else None)
    return _error(f"send the query as {QUERY_TYPE} or as a {FORM_TYPE} 'query' field", 415)


def _error(message: str, status: int, headers: dict[str, str] | None = None) -> PlainTextResponse:
    """The protocol's error form: plain text, one line."""
    return PlainTextResponse(one_line(message), status, headers=headers)


async def _answer(request: Request, text: str | None) -> Response:
    if not text or not text.strip():
        return _error("missing the 'query' parameter", 400)
    if len(text) > MAX_QUERY_BYTES:
        return _error(f"the query is longer than {MAX_QUERY_BYTES} characters", 400)
    try:
        clip = parse(text)
        hits = await _search(request, clip)
    except ApiError as exc:
        return _error(str(exc), exc.status, exc.headers)
    except SparqlError as exc:
        return _error(f"unsupported query: {exc}", 400)
    except IconodexError as exc:
        return _error(str(exc), status_for(exc))
    except Exception:  # a bug: SPARQL clients still get the protocol's plain text, and the log the detail
        log.exception("unexpected error answering /sparql")
        return _error("internal error; see the server log", 500)
    media_type = choose_format(request.headers.get("accept"))
    bindings = [_binding(clip, hit, str(request.base_url)) for hit in hits]
    return Response(render(clip.variables, bindings, media_type), media_type=media_type)


async def _search(request: Request, clip: ClipQuery) -> list[Hit]:
    state = state_of(request)
    limit = min(DEFAULT_LIMIT if clip.limit is None else clip.limit, state.settings.max_limit)
    if limit == 0:
        return []
    # SARI's contract: no cut unless clip:minScore asks for one (0 means none).
    query = SearchRequest(text=clip.text, keyword=False, limit=limit, offset=clip.offset,
                          min_score=0.0 if clip.min_score is None else clip.min_score)
    return await run_search(state, query)


def _binding(clip: ClipQuery, hit: Hit, base_url: str) -> Binding:
    result, ref = hit
    record = sari_record(result, ref, base_url)
    values = {"score": double(result.score), "iiifUrl": uri(record["url"]), "imageId": literal(result.id),
              "link": uri(record["link"]), "title": literal(result.title)}
    row = {variable: values[output] for output, variable in clip.outputs.items()}
    if clip.request_var:
        row[clip.request_var] = bnode("request")
    return {name: term for name, term in row.items() if name in clip.variables}
