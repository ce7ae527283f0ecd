"""API keys and request-size limits.

Reads are public unless the operator asked for ``private``; changes always need the key. Keys are
compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, error_response
from .state import state_of

MULTIPART_OVERHEAD = 64 * 1024  # form boundaries and fields around an uploaded picture


def presented_key(request: Request) -> str | None:
    """The key from ``Authorization: Bearer …`` or ``X-API-Key``, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def sees_inside(request: Request) -> bool:
    """Whether the request carries the valid key: only then do answers show the server's inside
    (source names and specs, failure reasons, why a URL was refused)."""
    expected = state_of(request).settings.api_key
    given = presented_key(request)
    return bool(expected and given) and hmac.compare_digest(given.encode(), expected.encode())


def _check_key(request: Request, expected: str) -> None:
    given = presented_key(request)
    if given is None:
        raise ApiError(401, "an API key is required (Authorization: Bearer KEY or X-API-Key: KEY)",
                       {"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(403, "the API key is not valid")


async def require_read(request: Request) -> None:
    """Dependency of every read route: a no-op unless the server is private. Async so that it runs
    on the event loop: as a plain function FastAPI hands it to a worker thread, on every request."""
    settings = state_of(request).settings
    if settings.private and settings.api_key:
        _check_key(request, settings.api_key)


async def require_write(request: Request) -> None:
    """Dependency of every route that changes the collection (async: see ``require_read``)."""
    settings = state_of(request).settings
    if not settings.api_key:
        raise ApiError(403, "changes are disabled: start the server with --api-key (or $ICONODEX_API_KEY)")
    _check_key(request, settings.api_key)


class BodyTooLarge(Exception):
    """Raised inside ``receive`` once the body passes the limit; the answer becomes a 413."""


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with a 413, by ``Content-Length`` before reading
    and by counting while streaming (a chunked upload cannot lie its way past the limit).

    Parsers may catch the error raised mid-body and answer something else (FastAPI's form parser
    says 400), so once the limit is passed whatever the app answers is replaced by the 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        exceeded = refused = False

        async def counting() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                exceeded = True
                raise BodyTooLarge
            return message

        async def replacing(message: Message) -> None:
            nonlocal refused
            if not exceeded:
                await send(message)
            elif not refused:
                refused = True
                await self._refuse(scope, receive, send)

        try:
            await self.app(scope, counting, replacing)
        except BodyTooLarge:
            if not refused:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, f"the request body is larger than {self.max_bytes} bytes",
                                  {"Connection": "close"})
        await response(scope, receive, send)
