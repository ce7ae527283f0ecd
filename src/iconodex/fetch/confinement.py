"""What an ingest started by a remote client (``POST /ingest``) may reach.

The operator's own ingests (the command line) reach anything the operator can. A server-started
ingest is steered by whoever holds the API key and by the documents it harvests, so it gets:
- an ``HttpClient`` whose transport is the SSRF guard (``GuardedTransport``): the source document,
  every image URL it lists and every redirect hop must go to a public address, or to a host the
  operator allowed;
- local files only under the roots the operator named (none by default), symlinks resolved, for
  the source spec, for options that name files, and for every picture path a listing yields.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .guard import GuardedTransport
from .http import HttpClient

SERVER_OPTIONS = ("workdir",)  # where the server writes; never the client's choice


@dataclass(frozen=True)
class Confinement:
    allow_hosts: tuple[str, ...] = ()
    local_roots: tuple[str, ...] = ()

    def check_request(self, spec: str, options: dict[str, Any]) -> None:
        """Refuse a spec or option that would read local files outside the roots."""
        for name in SERVER_OPTIONS:
            if name in options:
                raise ConfigError(f"option {name} is chosen by the server, not by the request")
        if not spec.startswith(("http://", "https://")):
            self.check_path(spec)
        for name, value in options.items():
            if _names_a_local_file(value):
                self.check_path(value, what=f"option {name}")

    def check_path(self, location: str, what: str = "") -> None:
        """Raise ``ConfigError`` unless ``location`` (symlinks resolved) lies under a root."""
        shown = f"{what} {location}".strip()
        if not self.local_roots:
            raise ConfigError(f"{shown}: this server reads no local paths; its operator can allow a folder "
                              "with --ingest-root DIR")
        path = Path(os.path.realpath(Path(location).expanduser()))
        if not any(path.is_relative_to(os.path.realpath(root)) for root in self.local_roots):
            raise ConfigError(f"{shown}: not under an ingest root of this server")

    def with_root(self, folder: str | Path) -> Confinement:
        """The same confinement, also reading under ``folder`` (a folder of the server's own)."""
        return replace(self, local_roots=(*self.local_roots, str(folder)))

    def http_client(self, **options: Any) -> HttpClient:
        """A polite client (``options`` as for ``HttpClient``) that only reaches what the guard allows."""
        return HttpClient(transport=GuardedTransport(self.allow_hosts), **options)


def _names_a_local_file(value: object) -> bool:
    if not isinstance(value, str) or not value.strip() or "\n" in value or len(value) > 4096:
        return False
    try:
        return Path(value).expanduser().exists()
    except (OSError, ValueError):  # a name too long or with a NUL byte names nothing
        return False
