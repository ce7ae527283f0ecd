"""Errors a user sees as one actionable line, never as a traceback."""

from __future__ import annotations


class IconodexError(Exception):
    """A problem the user can act on; `str(err)` is the whole message."""


class ConfigError(IconodexError):
    """Bad settings, flags or arguments."""


class ModelMismatchError(IconodexError):
    """A query or ingest names a model other than the one that made the collection's vectors."""


class FetchError(IconodexError):
    """A document or image could not be fetched; the message names the URL (secrets masked) and why."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class IndexEngineError(IconodexError):
    """The vector engine's server (Milvus, Qdrant) failed or cannot be reached; the message names it."""


class DecodeError(IconodexError):
    """Bytes that are not a usable picture (corrupt, empty, a bomb, not an image)."""


class SourceError(IconodexError):
    """A source document that cannot be read (invalid JSON, an HTML error page, wrong types)."""


class ModelNotAvailableError(IconodexError):
    """A model's files are missing or incomplete; the message says which and how to get them."""


class NotFoundError(IconodexError):
    """An item, collection or space that does not exist."""


class IndexDamagedError(IconodexError):
    """A space's ANN index file is missing, truncated or changed; it is rebuilt from the store."""

    def __init__(self, space: str, reason: str) -> None:
        super().__init__(f"the index of space {space!r} cannot be used: {reason}")
        self.space = space
        self.reason = reason


class StoreError(IconodexError):
    """The collection's SQLite store cannot be opened or read (damaged, overwritten, locked, no access)."""
