"""Reading a response body within bounds: a cap on decoded bytes, a total deadline, and a budget
shared by every thread, so neither an endless body, a gzip bomb nor a dripping server can hold
more memory or time than the settings allow.

The body is decoded here (gzip and deflate, the only codings the client asks for), a bounded
number of bytes per step: a 64 KB gzip chunk may inflate to 64 MB, and httpx would inflate it in
one go before any cap is checked.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx

from ..errors import FetchError
from .messages import mask_url

ACCEPT_ENCODING = "gzip, deflate"
INFLATE_STEP = 256 * 1024  # decoded bytes produced per step
SMALL_BODY = 1024 * 1024  # most pictures are smaller: they never wait for the budget


class BodyBudget:
    """Bounds the bytes of bodies being read at once, across threads.

    A body reads its first ``SMALL_BODY`` bytes freely; to grow past that it must hold one of
    ``total // max_body`` large-body permits (at least one) until it is read. A permit is only
    waited for by a reader that holds no other, so the wait always ends: bytes in flight stay
    under ``readers × SMALL_BODY + total``, whatever the servers send.
    """

    def __init__(self, total: int, max_body: int) -> None:
        self.small = min(SMALL_BODY, max_body)
        self.permits = max(1, total // max(1, max_body))
        self._large = threading.Semaphore(self.permits)

    @contextmanager
    def large_body(self, deadline: float | None, url: str) -> Iterator[None]:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not self._large.acquire(timeout=wait):
            raise FetchError(f"{mask_url(url)}: timed out waiting for other large downloads to finish")
        try:
            yield
        finally:
            self._large.release()


def read_capped(response: httpx.Response, max_bytes: int, url: str, *, deadline: float | None = None,
                budget: BodyBudget | None = None, allowed: float | None = None) -> bytes:
    """Read and decode a streamed body, refusing it once it passes ``max_bytes`` decoded bytes or
    the ``deadline`` (a ``time.monotonic()`` value; ``allowed`` seconds is what the message says)."""
    declared = response.headers.get("Content-Length", "")
    encoded = response.headers.get("Content-Encoding", "identity").strip().lower()
    if declared.isdigit() and int(declared) > max_bytes and encoded in ("", "identity"):
        raise FetchError(f"{mask_url(url)}: larger than {max_bytes} bytes ({declared} declared)")
    body = bytearray()  # one growing block: freed pieces would linger in per-thread malloc arenas
    try:
        with ExitStack() as holding:
            permit = False
            for piece in _decoded(response, url):
                if len(body) + len(piece) > max_bytes:
                    raise FetchError(f"{mask_url(url)}: larger than {max_bytes} bytes")
                if deadline is not None and time.monotonic() > deadline:
                    raise FetchError(f"{mask_url(url)}: timed out: took longer than {allowed or 0:g} s in all")
                if budget is not None and not permit and len(body) + len(piece) > budget.small:
                    holding.enter_context(budget.large_body(deadline, url))
                    permit = True
                body += piece
            return bytes(body)
    finally:
        # A refused body must not outlive the refusal: the error's traceback keeps this frame alive.
        body.clear()


def _decoded(response: httpx.Response, url: str) -> Iterator[bytes]:
    codings = [c.strip() for c in response.headers.get("Content-Encoding", "").lower().split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        yield from response.iter_raw()
        return
    if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(f"{mask_url(url)}: unsupported Content-Encoding {', '.join(codings)!r}")
    try:
        yield from _inflate(response.iter_raw(), gzip=codings[0] != "deflate")
    except zlib.error:
        raise FetchError(f"{mask_url(url)}: corrupt {codings[0]} body") from None


def _inflate(raw: Iterator[bytes], *, gzip: bool) -> Iterator[bytes]:
    """Inflate ``INFLATE_STEP`` bytes at a time. "deflate" is meant to be zlib-wrapped, but some
    servers send it raw: try the wrapper first, as browsers and httpx do."""
    inflater = zlib.decompressobj(31 if gzip else 15)
    first = True
    for data in raw:
        if first and not gzip:
            try:
                zlib.decompressobj(15).decompress(data[:64])
            except zlib.error:
                inflater = zlib.decompressobj(-15)
        first = False
        while data:
            yield inflater.decompress(data, INFLATE_STEP)
            data = inflater.unconsumed_tail
