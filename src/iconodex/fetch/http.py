"""A polite, thread-safe HTTP client shared by harvesters and the image fetcher.

Retries with backoff on 429/5xx and transport errors, a per-host concurrency limit, timeouts,
a User-Agent that names iconodex, and URLs with their secrets masked in every message.
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
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from .. import __version__
from ..errors import FetchError

if TYPE_CHECKING:
    from .cache import Cache

# httpx logs every request URL at INFO, query-string API keys included: keep it quiet.
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = f"iconodex/{__version__} (+https://github.com/iconodex/iconodex)"
SECRET_PARAMS = re.compile(r"(key|token|secret|password|credential|auth|signature)", re.I)
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 30.0  # seconds; a server asking for longer gets its item retried on the next run
# Representation headers that no longer describe a body we have already decoded.
_DECODED_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


def mask_url(url: str) -> str:
    """Hide credentials and secret-looking query parameters, for logs and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = [(k, "***" if SECRET_PARAMS.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), parts.fragment))


class HttpClient:
    """``get`` with retries and per-host limits; one instance is shared by all threads of a run."""

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        retries: int = 3,
        backoff: float = 0.5,
        per_host: int = 4,
        max_bytes: int = 64 * 1024 * 1024,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self.max_bytes = max_bytes
        self._per_host = per_host
        self._host_slots: dict[str, threading.BoundedSemaphore] = defaultdict(
            lambda: threading.BoundedSemaphore(self._per_host)
        )
        self._lock = threading.Lock()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            max_redirects=10,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            transport=transport,
        )

    def _slot(self, url: str) -> threading.BoundedSemaphore:
        host = urlsplit(url).netloc
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
                time.sleep(self._delay(attempt, last))
            try:
                response = self._send_once(method, url, params, headers, content)
            except httpx.TooManyRedirects:
                raise FetchError(f"{mask_url(url)}: too many redirects (a redirect loop?)") from None
            except httpx.TimeoutException:
                last = FetchError(f"{mask_url(url)}: timed out", retryable=True)
                continue
            except httpx.HTTPError as exc:
                last = FetchError(f"{mask_url(url)}: {type(exc).__name__}", retryable=True)
                continue
            if response.status_code in RETRY_STATUSES:
                last = FetchError(f"{mask_url(url)}: HTTP {response.status_code}", status=response.status_code, retryable=True)
                last.retry_after = response.headers.get("Retry-After")  # type: ignore[attr-defined]
                continue
            if response.status_code >= 400:
                raise FetchError(f"{mask_url(url)}: HTTP {response.status_code}", status=response.status_code)
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
        with self._slot(url):
            request = self._client.build_request(method, url, params=params, headers=headers, content=content)
            response = self._client.send(request, stream=True)
            try:
                body = read_capped(response, self.max_bytes, url)
            finally:
                response.close()
        return _with_body(response, body)

    def get_json(self, url: str, *, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON document; an HTML error page or invalid JSON becomes a one-line ``FetchError``."""
        response = self.get(url, params=params, headers={"Accept": "application/json, application/ld+json;q=0.9"})
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "unknown type").split(";")[0]
            raise FetchError(f"{mask_url(str(response.url))}: not JSON (got {kind})") from None
        except RecursionError:
            raise FetchError(f"{mask_url(str(response.url))}: JSON nested too deeply to read") from None

    def _delay(self, attempt: int, last: FetchError | None) -> float:
        wait = retry_after_seconds(getattr(last, "retry_after", None))
        if wait is not None:
            return min(wait, MAX_RETRY_AFTER)
        return self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random())

    def close(self) -> None:
        self._client.close()

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


def read_capped(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    """Read a streamed body, refusing it as soon as it passes ``max_bytes``."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"{mask_url(url)}: larger than {max_bytes} bytes ({declared} declared)")
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise FetchError(f"{mask_url(url)}: larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


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
