"""Every error leaves the server as ``{"error": "one line"}`` with a fitting status, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    ConfigError,
    DecodeError,
    FetchError,
    IconodexError,
    ModelMismatchError,
    ModelNotAvailableError,
    NotFoundError,
    SourceError,
    StoreError,
)
from ..fetch.guard import URLRefused

log = logging.getLogger(__name__)

STATUS_BY_ERROR: tuple[tuple[type[IconodexError], int], ...] = (
    (NotFoundError, 404),
    (ModelNotAvailableError, 503),
    (ModelMismatchError, 500),
    (StoreError, 500),  # the server's own store: not the client's doing
    (ConfigError, 400),
    (DecodeError, 400),
    (FetchError, 400),  # the client's URL could not be used; not our failure
    (SourceError, 400),
)


class ApiError(Exception):
    """An HTTP error with a one-line message and optional headers (e.g. ``Retry-After``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


MAX_MESSAGE = 300  # messages may quote what the client sent; a 5,000-character id need not come back whole


def one_line(message: str) -> str:
    """``message`` on one line, cut to ``MAX_MESSAGE`` characters."""
    text = " ".join(message.split()) or "error"
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers)


def status_for(exc: IconodexError) -> int:
    return next((status for kind, status in STATUS_BY_ERROR if isinstance(exc, kind)), 400)


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "body", "path"))
    return f"{where or 'request'}: {first.get('msg', 'invalid value')}"


def _shown_message(request: Request, exc: IconodexError) -> str:
    """Why a URL was refused names the server's network ("… resolves to loopback address …"):
    the log and the key holder get it, other clients only that it is not allowed."""
    from .security import sees_inside  # security answers with this module's errors

    if isinstance(exc, URLRefused) and not sees_inside(request):
        log.warning("refused a client's URL: %s", exc)
        return "the image URL is not allowed"
    return str(exc)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, str(exc), exc.headers)

    @app.exception_handler(IconodexError)
    async def iconodex_error(request: Request, exc: IconodexError) -> JSONResponse:
        return error_response(status_for(exc), _shown_message(request, exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
        return error_response(500, f"internal error ({type(exc).__name__}); see the server log")
