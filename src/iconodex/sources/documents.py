"""What the harvesters share: reading JSON documents (URL or file, one-line errors), SARI ids, flags."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx

from ..errors import SourceError
from ..fetch.http import HttpClient, mask_url


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def option_flag(value: object) -> bool:
    """A yes/no option as typed on a command line or written in JSON."""
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def url_id(url: str) -> str:
    """The id SARI gives an image URL (``blake2b(url, digest_size=20)``), so ids match across tools."""
    return hashlib.blake2b(url.encode(), digest_size=20).hexdigest()


def response_json(response: httpx.Response) -> Any:
    """A response's JSON body; an HTML error page or broken JSON becomes a one-line ``SourceError``."""
    try:
        return response.json()
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        kind = response.headers.get("content-type", "unknown type").split(";")[0]
        raise SourceError(f"{mask_url(str(response.url))}: not valid JSON (got {kind})") from None


def load_json(http: HttpClient, location: str) -> Any:
    """A JSON document from a URL (through the shared client) or a local file."""
    if is_url(location):
        return response_json(http.get(location, headers={"Accept": "application/ld+json, application/json"}))
    try:
        return json.loads(Path(location).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SourceError(f"{location}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"{location}: not valid JSON ({exc})") from None
