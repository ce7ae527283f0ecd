"""A polite, thread-safe HTTP client shared by harvesters and the image fetcher.

Retries with backoff on 429/5xx and transport errors, a per-host concurrency limit, timeouts,
a User-Agent that names iconodex, and URLs with their secrets masked in every message.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from .. import __version__
from ..errors import FetchError

USER_AGENT = f"iconodex/{__version__} (+https://github.com/iconodex/iconodex)"
SECRET_PARAMS = re.compile(r"(key|token|secret|password|credential|auth|signature)", re.I)
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


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
        """GET with retries; raises ``FetchError`` (one line, secrets masked) on final failure."""
        last: FetchError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self._delay(attempt, last))
            try:
                with self._slot(url):
                    response = self._client.get(url, params=params, headers=headers)
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
            if len(response.content) > self.max_bytes:
                raise FetchError(f"{mask_url(url)}: larger than {self.max_bytes} bytes")
            return response
        assert last is not None
        raise last

    def get_json(self, url: str, *, params: dict[str, Any] | None = None) -> Any:
        """GET a JSON document; an HTML error page or invalid JSON becomes a one-line ``FetchError``."""
        response = self.get(url, params=params, headers={"Accept": "application/json, application/ld+json;q=0.9"})
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "unknown type").split(";")[0]
            raise FetchError(f"{mask_url(str(response.url))}: not JSON (got {kind})") from None

    def _delay(self, attempt: int, last: FetchError | None) -> float:
        retry_after = getattr(last, "retry_after", None)
        if retry_after and str(retry_after).isdigit():
            return min(float(retry_after), 30.0)
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
