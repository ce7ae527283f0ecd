"""The ASGI app: ``create_app(collection, settings)``; ``run_server`` serves it (``http_server``).

Start-up does no heavy work: the index is memory-mapped on first use and the model loads in a
background thread, so ``/health`` and ``like=`` queries answer at once and text or picture
queries get a 503 with ``Retry-After`` until the model is ready.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ..collection import Collection
from .cache import AnswerCache
from .docs import add_docs
from .errors import install_error_handlers
from .map_routes import data as map_data
from .map_routes import page as map_page
from .rest import reads, writes
from .sari import router as sari_router
from .security import MULTIPART_OVERHEAD, BodyLimit
from .settings import ServeSettings
from .sparql_endpoint import router as sparql_router
from .state import ServerState, state_of

log = logging.getLogger(__name__)
STATIC = resources.files(__package__).joinpath("static")
# The page loads nothing from elsewhere except pictures (IIIF servers, image URLs).
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob: http: https:; style-src 'self'; "
               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")


def create_app(collection: Collection, settings: ServeSettings | None = None) -> FastAPI:
    """The server for ``collection``; it does not close the collection (its owner does)."""
    settings = settings or ServeSettings()
    state = ServerState(collection, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.loader.start()
        state.keeper.start()
        yield
        state.close()

    app = FastAPI(title="iconodex", summary="Search a picture collection by what it shows and what the "
                  "catalogue says.", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.iconodex = state
    install_error_handlers(app)
    for router in (reads, writes, sari_router, sparql_router, map_data, map_page):
        app.include_router(router)
    _add_page(app)
    add_docs(app)
    app.add_api_route("/health", health, methods=["GET"], tags=["service"], summary="Liveness, model and index state")
    if settings.answer_cache_mb:  # added first, so innermost: CORS and the body limit see cached answers too
        app.add_middleware(AnswerCache, max_bytes=settings.answer_cache_mb * 2**20)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "X-API-Key"])
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD)
    return app


def health(request: Request) -> dict[str, object]:
    """Always public (load balancers need it); says nothing secret. ``degraded``: a space's index
    is being rebuilt or could not be; its searches are exact (slower) meanwhile."""
    state = state_of(request)
    index = state.keeper.status()
    return {"status": "ok" if index["state"] == "ok" else "degraded", "model": state.loader.status,
            "items": state.coll.indexed_count(), "index": index}


def _add_page(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(STATIC.joinpath("index.html").read_text(encoding="utf-8"), headers=page_headers())


def page_headers() -> dict[str, str]:
    return {"Content-Security-Policy": PAGE_POLICY, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer"}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("iconodex")
    except PackageNotFoundError:
        return "0"


def run_server(collection: Collection, settings: ServeSettings | None = None, *, host: str = "127.0.0.1",
               port: int = 8000, log_level: str = "info") -> None:
    """Serve until interrupted. One worker process (the model and the memory-mapped index are
    shared by its threads); CPU-bound searches run in a bounded thread pool."""
    from . import http_server

    app = create_app(collection, settings)
    log.info("serving %s on http://%s:%d", collection.path, host, port)
    http_server.run(app, host, port, log_level)
