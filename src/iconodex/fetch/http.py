"""A polite, thread-safe HTTP client shared by harvesters and the image fetcher.

Retries with backoff on 429/5xx and transport errors, a per-host concurrency limit, a per-read
timeout and a total deadline per request, a byte budget shared by every thread, a circuit
breaker per host, a User-Agent that names iconodex, and URLs with their secrets masked in every
message.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

from .. import __version__
from ..errors import FetchError
from .body import ACCEPT_ENCODING, BodyBudget, read_capped
from .hosts import HostBreaker
from .messages import host_of, mask_url, status_failure, transport_failure

if TYPE_CHECKING:
    from .cache import Cache

# httpx logs every request URL at INFO, query-string API keys included: keep it quiet.
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = f"iconodex/{__version__} (+https://github.com/iconodex/iconodex)"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 30.0  # seconds; a server asking for longer gets its item retried on the next run
# Representation headers that no longer describe a body we have already decoded.
_DECODED_HEADERS = ("content-encoding", "content-length", "transfer-encoding")

__all__ = ["USER_AGENT", "HttpClient", "first_header_link", "mask_url", "read_capped", "retry_after_seconds"]


class HttpClient:
    """``get`` with retries and per-host limits; one instance is shared by all threads of a run."""

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        deadline: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        per_host: int = 4,
        max_bytes: int = 64 * 1024 * 1024,
        budget: int = 128 * 1024 * 1024,
        host_failures: int = 6,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``timeout`` bounds each read, ``deadline`` a whole request (body included);
        ``max_bytes`` caps one decoded body and ``budget`` the bodies being read at once by all
        threads; ``host_failures`` connection failures in a row give a host up for the run."""
        self.retries = retries
        self.backoff = backoff
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.deadline = deadline
        self.budget = BodyBudget(budget, max_bytes)
        self.breaker = HostBreaker(host_failures)
        self._per_host = per_host
        self._host_slots: dict[str, threading.BoundedSemaphore] = defaultdict(
            lambda: threading.BoundedSemaphore(self._per_host)
        )
        self._lock = threading.Lock()
        self._client_options = {"timeout": httpx.Timeout(timeout), "follow_redirects": True, "max_redirects": 10,
                                "headers": {"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING,
                                            **(headers or {})},
                                "transport": transport}
        self._opened: httpx.Client | None = None

    @property
    def _client(self) -> httpx.Client:
        """Built on the first request: its connection pool and TLS context cost ~0.1 s of CPU, which
        a run that reads only local files need not spend."""
        with self._lock:
            if self._opened is None:
                self._opened = httpx.Client(**self._client_options)
            return self._opened

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            return self._host_slots[host]

    def get(self, url: str, *, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        """GET with retries; raises ``FetchError`` (one line, secrets masked) on final failure.

        The body is streamed and refused once it passes ``max_bytes``, so a huge or endless
        response never fills memory."""
        return self.request("GET", url, params=params, headers=headers)

    def post(self, url: str, *, content: bytes | str, headers: dict[str, str] | None = None) -> httpx.Response:
        """POST (e.g. a SPARQL query too long for a URL) with the same retries and limits as ``get``."""
        return self.request("POST", url, headers=headers, content=content)

    def request(self, method: str, url: str, *, params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, content: bytes | str | None = None) -> httpx.Response:
        last: FetchError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                if self.breaker.given_up(host_of(url)):
                    break  # no point waiting to retry a host given up meanwhile
                time.sleep(self._delay(attempt, last))
            try:
                response = self._send_once(method, url, params, headers, content)
            except httpx.TooManyRedirects:
                raise FetchError(f"{mask_url(url)}: too many redirects (a redirect loop?)") from None
            except httpx.HTTPError as exc:
                last = FetchError(f"{mask_url(url)}: {transport_failure(exc, url)}", retryable=True)
                continue
            if response.status_code in RETRY_STATUSES:
                last = FetchError(f"{mask_url(url)}: {status_failure(response)}", status=response.status_code,
                                  retryable=True)
                last.retry_after = response.headers.get("Retry-After")  # type: ignore[attr-defined]
                continue
            if response.status_code >= 400:
                raise FetchError(f"{mask_url(url)}: {status_failure(response)}", status=response.status_code)
            return response
        assert last is not None
        raise last

    def get_bytes(self, url: str, *, cache: Cache | None = None) -> bytes:
        """The body of ``url``; with a ``cache``, a cached copy is revalidated with a conditional
        GET (ETag / Last-Modified) and reused on 304. An entry without validators is reused as is:
        the pipeline already refetches items whose source version changed."""
        entry = cache.get(url) if cache is not None else None
        if entry is not None and not entry.validators():
            return entry.data
        response = self.get(url, headers=entry.validators() if entry is not None else None)
        if response.status_code == 304 and entry is not None and cache is not None:
            cache.refresh(url)
            return entry.data
        if cache is not None and response.status_code == 200:
            cache.put(
                url,
                response.content,
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
            )
        return response.content

    def _send_once(self, method: str, url: str, params: dict[str, Any] | None, headers: dict[str, str] | None,
                   content: bytes | str | None) -> httpx.Response:
        """One attempt, within the deadline. A host that never answers counts towards giving it
        up; one that answers, even with an error, is alive."""
        host = host_of(url)
        reason = self.breaker.given_up(host)
        if reason is not None:
            raise FetchError(f"{mask_url(url)}: {reason}")
        with self._slot(host):
            deadline = time.monotonic() + self.deadline
            request = self._client.build_request(method, url, params=params, headers=headers, content=content,
                                                 timeout=httpx.Timeout(min(self.timeout, self.deadline)))
            try:
                response = self._client.send(request, stream=True)
            except httpx.TransportError as exc:
                self.breaker.failed(host, transport_failure(exc, url))
                raise
            self.breaker.answered(host)
            try:
                body = read_capped(response, self.max_bytes, url, deadline=deadline, budget=self.budget,
                                   allowed=self.deadline)
            finally:
                response.close()
        return _with_body(response, body)

    def get_json(self, url: str, *, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON document; an HTML error page or invalid JSON becomes a one-line ``FetchError``."""
        response = self.get(url, params=params, headers={"Accept": "application/json, application/ld+json;q=0.9"})
        return json_body(response)

    def _delay(self, attempt: int, last: FetchError | None) -> float:
        wait = retry_after_seconds(getattr(last, "retry_after", None))
        if wait is not None:
            return min(wait, MAX_RETRY_AFTER)
        return self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random())

    def close(self) -> None:
        with self._lock:
            if self._opened is not None:
                self._opened.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def first_header_link(links: Iterable[str], rel: str) -> str | None:
    """Parse RFC 8288 ``Link`` header values and return the target with ``rel``."""
    for header in links:
        for part in header.split(","):
            match = re.match(r'\s*<([^>]*)>\s*;(.*)', part)
            if match and re.search(rf'rel\s*=\s*"?{re.escape(rel)}"?', match.group(2)):
                return match.group(1)
    return None


def _with_body(streamed: httpx.Response, body: bytes) -> httpx.Response:
    """A complete response carrying the already-decoded ``body`` of a streamed one."""
    # raw bytes: a header value outside ASCII (latin-1, as servers send) cannot be re-encoded from text
    headers = [(k, v) for k, v in streamed.headers.raw if k.decode("latin-1").lower() not in _DECODED_HEADERS]
    return httpx.Response(
        streamed.status_code,
        headers=headers,
        content=body,
        request=streamed.request,
        history=streamed.history,
    )


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


TOO_DEEP = "JSON nested too deeply to read (a broken or hostile document)"


def json_body(response: httpx.Response, error: type[Exception] = FetchError) -> Any:
    """A response's JSON body; an HTML error page, broken JSON or a document nested past Python's
    recursion limit becomes a one-line ``error`` naming the (masked) URL."""
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "unknown type").split(";")[0]
        raise error(f"{mask_url(str(response.url))}: not valid JSON (got {kind})") from None
    except RecursionError:
        raise error(f"{mask_url(str(response.url))}: {TOO_DEEP}") from None
