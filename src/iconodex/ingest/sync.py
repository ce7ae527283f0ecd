"""Re-run every source a collection knows, with the options it was ingested with, one run at a time.

Stored options never hold a credential (``redact``: a key is kept as ``***``, which only says that
one was used): those are dropped here, and the source takes its keys from the environment or the
config file at run time, as ``ingest`` does. The lock is an ``flock`` on a file in the collection,
which the kernel releases when the process dies: no stale lock after a crash or a kill -9.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..errors import ConfigError, IconodexError
from ..formats import FORMATS
from ..redact import HIDDEN
from ..sources import IMAGE_OPTION, SOURCES

if TYPE_CHECKING:
    from ..collection import Collection
    from .report import IngestReport

LOCK_NAME = "sync.lock"
RUN_ONLY_OPTIONS = ("full", "workdir")  # said again on each run, never carried over from the last
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class SyncBusy(IconodexError):
    """Another sync of the same collection is running."""


@dataclass
class SourceRun:
    """One source's outcome in a sync: its report, or the one-line reason it could not run."""

    name: str
    report: IngestReport | None = None
    error: str = ""
    seconds: float = 0.0
    imported: str = ""  # the format of vectors imported from files: nothing to re-read

    @property
    def ok(self) -> bool:
        return bool(self.imported) or (self.report is not None and self.report.ok)

    def line(self) -> str:
        if self.imported:
            return (f"{self.name}: imported from {self.imported} files, not harvested: nothing to re-read "
                    f"(to update, run iconodex import again into a new collection)")
        if self.report is None:
            return f"{self.name}: not run: {self.error}"
        return f"{self.name}: {self.report.counts_line()} in {self.seconds:.1f} s"


def rerun_request(stored: dict[str, Any], full: bool) -> tuple[str, dict[str, Any]]:
    """(spec, options) to run a stored source again: hidden credentials and run-only options left out."""
    spec = _without_hidden_params(stored["spec"])
    if f"{HIDDEN}@" in spec:
        raise ConfigError("its URL held a user name and password, which are not kept; run iconodex ingest with "
                          "the URL again")
    # an older iconodex stored options their source never read; a plugin's source may not say which it takes
    takes = getattr(SOURCES.get(stored["kind"]), "options", None)
    options = {name: value for name, value in stored["options"].items()
               if value != HIDDEN and name not in RUN_ONLY_OPTIONS
               and (takes is None or name in takes or name == IMAGE_OPTION)}
    if full:
        options["full"] = "true"
    return spec, options


def sync_sources(coll: Collection, *, full: bool = False, only: str | None = None) -> list[SourceRun]:
    """Re-run each stored source (or the one named ``only``); one failing source never stops the others."""
    stored = [s for s in coll.store.source_settings() if only is None or s["name"] == only]
    if not stored:
        known = ", ".join(s["name"] for s in coll.store.source_settings()) or "none yet"
        raise ConfigError(f"no source {only!r} in this collection (known: {known})" if only else
                          f"this collection has no source yet; add one with: iconodex ingest SOURCE -c {coll.path}")
    runs = []
    for source in stored:
        run = SourceRun(source["name"])
        if source["kind"] in FORMATS.names():
            run.imported = source["kind"]
            runs.append(run)
            continue
        started = time.monotonic()
        try:
            spec, options = rerun_request(source, full)
            run.report = coll.ingest(spec, source_type=source["kind"], options=options, quiet=True)
        except IconodexError as exc:
            run.error = str(exc)
        run.seconds = time.monotonic() - started
        runs.append(run)
    return runs


@contextmanager
def sync_lock(collection: Path) -> Iterator[None]:
    """Hold the collection's sync lock, or raise ``SyncBusy`` saying who holds it."""
    path = Path(collection) / LOCK_NAME
    handle: IO[str] = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise SyncBusy(f"another sync of {collection} is running ({holder}); this one stops") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the flock


def parse_every(text: str) -> float:
    """``90s``, ``15m``, ``1h``, ``1d`` (a bare number is seconds) → seconds."""
    match = _DURATION.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"--every {text!r}: give a duration such as 90s, 15m, 1h or 1d")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def _without_hidden_params(spec: str) -> str:
    """``spec`` without query parameters whose value was hidden (an API key given in the URL)."""
    if "?" not in spec or "://" not in spec:
        return spec
    parts = urlsplit(spec)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if v != HIDDEN]
    return parts._replace(query=urlencode(kept)).geturl()
