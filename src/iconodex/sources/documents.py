"""What the harvesters share: reading JSON documents (URL or file, one-line errors), SARI ids, flags."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ..errors import SourceError
from ..fetch.cache import Cache
from ..fetch.http import TOO_DEEP, HttpClient, json_body

JSON_ACCEPT = "application/ld+json, application/json"


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def option_flag(value: object) -> bool:
    """A yes/no option as typed on a command line or written in JSON."""
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def utc_time(value: object) -> datetime | None:
    """An ISO 8601 date or date-time (``Z`` or an offset; none means UTC) in UTC; None when it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def url_id(url: str) -> str:
    """The id SARI gives an image URL (``blake2b(url, digest_size=20)``), so ids match across tools."""
    return hashlib.blake2b(url.encode(), digest_size=20).hexdigest()


def response_json(response: httpx.Response) -> Any:
    """A response's JSON body; an HTML error page or broken JSON becomes a one-line ``SourceError``."""
    return json_body(response, SourceError)


def load_json(http: HttpClient, location: str, cache: Cache | None = None) -> Any:
    """A JSON document from a URL (through the shared client) or a local file.

    With a ``cache``, a URL read before is asked for again with its ``If-None-Match`` /
    ``If-Modified-Since``, and a 304 reuses the copy on disk; only documents that came with an
    ETag or a Last-Modified are kept, so one without is always read afresh."""
    if is_url(location):
        entry = cache.get(location) if cache is not None else None
        headers = {"Accept": JSON_ACCEPT, **(entry.validators() if entry is not None else {})}
        response = http.get(location, headers=headers)
        if response.status_code == 304 and entry is not None and cache is not None:
            cache.refresh(location)
            response = httpx.Response(200, content=entry.data, request=response.request)
        document = response_json(response)
        etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        if cache is not None and (etag or modified):
            cache.put(location, response.content, etag=etag, last_modified=modified)
        return document
    try:
        return json.loads(Path(location).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourceError(f"{location}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise SourceError(f"{location}: not valid JSON ({exc})") from None
    except RecursionError:
        raise SourceError(f"{location}: {TOO_DEEP}") from None
