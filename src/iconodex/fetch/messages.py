"""What went wrong with a request, in words a user can act on: which host, what happened
(refused, cannot resolve, timed out, TLS), the server's own explanation, and URLs with their
secrets masked. Every message names the URL once."""

from __future__ import annotations

import json
import re
import socket
import ssl
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

SECRET_PARAMS = re.compile(r"(key|token|secret|password|credential|auth|signature)", re.I)
SERVER_MESSAGE_CHARS = 160
_MESSAGE_KEYS = ("message", "error", "errors", "detail", "title", "description", "reason")
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.I)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_CREDENTIAL_HINT = ("if this source needs an API key, check that it is given and right "
                    "(for Omeka S: -o key_identity=… -o key_credential=…, or $ICONODEX_OMEKA_KEY_IDENTITY and "
                    "$ICONODEX_OMEKA_KEY_CREDENTIAL)")
STATUS_HINTS = {401: _CREDENTIAL_HINT, 403: _CREDENTIAL_HINT}


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


def host_of(url: str) -> str:
    """``host[:port]`` without credentials: how messages name a server."""
    try:
        return urlsplit(url).netloc.rsplit("@", 1)[-1] or url
    except ValueError:
        return "<unparseable url>"


def transport_failure(exc: httpx.HTTPError, url: str) -> str:
    """What happened to the connection to ``url``'s host, in words."""
    host = host_of(url)
    if isinstance(exc, httpx.ConnectTimeout):
        return f"{host} did not accept the connection in time (timed out)"
    if isinstance(exc, httpx.TimeoutException):
        return f"{host} stopped answering (timed out)"
    if isinstance(exc, httpx.ConnectError):
        return _connect_failure(exc, host)
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"{host} closed the connection without a proper answer"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return f"the connection to {host} broke ({_short(str(exc)) or type(exc).__name__})"
    return f"{host}: {type(exc).__name__} {_short(str(exc))}".strip()


def _connect_failure(exc: BaseException, host: str) -> str:
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return f"{host} refused the connection (nothing listens there, or a firewall says no)"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the host name {host.rsplit(':', 1)[0]} (no such host, or no DNS)"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS: the certificate of {host} is not trusted ({cause.verify_message or cause.reason})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake with {host} failed ({cause.reason or _short(str(cause))})"
    text = str(exc)
    if "Connection refused" in text:
        return f"{host} refused the connection (nothing listens there, or a firewall says no)"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return f"cannot resolve the host name {host.rsplit(':', 1)[0]} (no such host, or no DNS)"
    if "SSL" in text or "certificate" in text:
        return f"TLS with {host} failed ({_short(text)})"
    return f"cannot connect to {host} ({_short(text) or type(exc).__name__})"


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def status_failure(response: httpx.Response) -> str:
    """``HTTP 403 Forbidden: "the server's words"; a hint`` for an error response."""
    status = response.status_code
    text = f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".strip()
    said = server_message(response)
    if said:
        text += f': "{said}"'
    if status in STATUS_HINTS:
        text += f"; {STATUS_HINTS[status]}"
    return text


def server_message(response: httpx.Response) -> str:
    """The explanation in an error body (JSON, HTML title, or plain text), short, on one line,
    control characters removed and URLs masked; '' when there is none."""
    body = response.content[:8192]
    if not body.strip():
        return ""
    text = body.decode(response.encoding or "utf-8", errors="replace")
    kind = response.headers.get("content-type", "").lower()
    if "json" in kind or text.lstrip().startswith(("{", "[")):
        try:
            found = _message_in(json.loads(text))
        except ValueError:
            found = None
        return _short(found or "")
    if "html" in kind or "<html" in text[:500].lower():
        match = re.search(r"<title[^>]*>(.*?)</title>|<h1[^>]*>(.*?)</h1>", text, re.I | re.S)
        return _short(re.sub(r"<[^>]+>", " ", next(g for g in match.groups() if g))) if match else ""
    return _short(text.strip().splitlines()[0]) if text.strip() else ""


def _message_in(doc: Any, depth: int = 0) -> str | None:
    if depth > 4:
        return None
    if isinstance(doc, str):
        return doc
    if isinstance(doc, list):
        return next((m for item in doc[:5] if (m := _message_in(item, depth + 1))), None)
    if isinstance(doc, dict):
        for key in _MESSAGE_KEYS:
            if key in doc and (found := _message_in(doc[key], depth + 1)):
                return found
        return next((m for value in list(doc.values())[:5] if (m := _message_in(value, depth + 1))), None)
    return None


def _short(text: str) -> str:
    text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), _CONTROL.sub(" ", text))
    text = " ".join(text.split())
    return text if len(text) <= SERVER_MESSAGE_CHARS else text[:SERVER_MESSAGE_CHARS - 1] + "…"
