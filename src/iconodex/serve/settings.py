"""What an operator can tune about the server; every limit has a safe default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..fetch.confinement import Confinement
from ..models.threads import usable_cores

API_KEY_ENV = "ICONODEX_API_KEY"


@dataclass(frozen=True)
class ServeSettings:
    """Server options. ``api_key`` guards writes (and, with ``private``, reads too)."""

    api_key: str | None = None
    private: bool = False
    cors_origins: tuple[str, ...] = ()
    max_query_chars: int = 500
    max_limit: int = 100
    default_limit: int = 20
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    request_timeout: float = 30.0          # seconds for one search, fetch included
    fetch_timeout: float = 10.0            # seconds for a client-given image URL
    # Concurrent CPU-bound searches (the event loop never runs them): one per core this process may use, at
    # most 4. More threads than cores add no throughput, only GIL contention: on one core, 4 threads kept
    # cached answers waiting 13 ms (p50) where 1 thread answers them in 2 (serve-load, 1 search thread).
    search_threads: int = field(default_factory=lambda: min(4, usable_cores()))
    load_model: bool = True                # False: a like-only server that never loads the model
    answer_cache_mb: int = 64              # answers to repeated reads kept until the store changes; 0: none
    thumbnail_side: int = 400              # longest side of /items/{id}/image for local pictures
    fetch_allow_hosts: tuple[str, ...] = field(default=())  # hosts exempt from the SSRF check (tests, intranets)
    ingest_roots: tuple[str, ...] = field(default=())  # folders POST /ingest may read; none: no local paths

    @property
    def confinement(self) -> Confinement:
        """What an ingest started through the API may reach."""
        return Confinement(allow_hosts=self.fetch_allow_hosts, local_roots=self.ingest_roots)

    def __post_init__(self) -> None:
        if self.private and not self.api_key:
            raise ConfigError("--private needs an API key (--api-key or $ICONODEX_API_KEY)")

    @classmethod
    def from_env(cls, **overrides: object) -> ServeSettings:
        """Defaults, with the API key taken from ``$ICONODEX_API_KEY`` unless given."""
        values = {key: value for key, value in overrides.items() if value is not None}
        values.setdefault("api_key", os.environ.get(API_KEY_ENV) or None)
        return cls(**values)  # type: ignore[arg-type]
