"""What may be written to a collection or printed about a source: its spec and options without credentials.

A collection directory gets copied, shared and served; an API key must never travel with it. So a
source's spec and options are stored with every credential replaced by ``***`` (which still says
that one was used), and the keys themselves are given again at run time (options, environment or
config file).
"""

from __future__ import annotations

from typing import Any

from .fetch.messages import SECRET_PARAMS
from .logs import mask

HIDDEN = "***"


def is_secret_name(name: str) -> bool:
    """An option or query parameter whose value is a credential (``key_credential``, ``api_key``, ``token``…)."""
    return bool(SECRET_PARAMS.search(name))


def public_text(text: str) -> str:
    """``text`` (a spec, a source name, a URL) with ``user:pass@`` and key-like query parameters masked."""
    return mask(text)


def public_options(options: dict[str, Any]) -> dict[str, Any]:
    """Source options fit to store and print: credential values hidden, URLs in values masked."""
    return {name: _public_value(name, value) for name, value in options.items()}


def _public_value(name: str, value: Any) -> Any:
    if is_secret_name(name):
        return HIDDEN if value not in (None, "") else value
    if isinstance(value, str) and "://" in value:
        return public_text(value)
    if isinstance(value, list):
        return [public_text(v) if isinstance(v, str) and "://" in v else v for v in value]
    return value
