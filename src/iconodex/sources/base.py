"""The source seam: anything that can list records (a folder, a CSV, Omeka S, IIIF, SPARQL…)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from ..config import Settings
from ..logs import mask
from ..records import SourceRecord

if TYPE_CHECKING:
    from ..fetch.http import HttpClient


@dataclass
class HarvestReport:
    """What a harvest did: counts plus one line per failure. ``complete`` is False when part of the
    listing could not be read, so the pipeline must not treat absent items as deleted."""

    source: str
    harvested: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    complete: bool = True
    total_hint: int | None = None
    partial: str = ""  # why this run listed only what changed (absent items are then no deletions)
    note: str = ""  # how the source was read, for the summary (e.g. "incremental: 12 read since …")

    def skip(self, where: str, reason: str) -> None:
        self.skipped.append(_located(where, reason))

    def fail(self, where: str, reason: str, *, listing: bool = False) -> None:
        """Record a failed document; ``listing=True`` means some records may be missing."""
        self.failed.append(_located(where, reason))
        if listing:
            self.complete = False


def _located(where: str, reason: str) -> tuple[str, str]:
    """(where, reason) with secrets masked and the location said once: an error message that
    starts with it (or with a longer form of it, the request's full URL) does not repeat it."""
    where = mask(where)
    head, sep, rest = reason.partition(": ")
    if sep and where and head.startswith(where):
        return head, rest
    return where, reason


@dataclass
class HarvestContext:
    """What the pipeline gives a source while it harvests.

    - ``http``: the shared, polite HTTP client (per-host limits, retries, UA, masking);
    - ``state``: this source's checkpoint dict, persisted by the collection between runs
      (e.g. the last ``o:modified`` seen, a page cursor); mutate it freely;
    - ``known_version(id)``: the version stored for an id, so a source can skip expensive
      per-item requests for unchanged items (then it yields the record with that same version);
    - ``languages``: the user's preferred languages for language maps, best first;
    - ``report``: where to count and explain;
    - ``settings``: the run's settings (config file, ``ICONODEX_*`` environment), e.g. a source's
      API keys, which are given at run time and never stored;
    - ``still_present(ids)``: an incremental source that listed only what changed vouches that these
      ids still exist (an id-only listing), so a complete run can still find deletions (the pipeline
      keeps them in memory: about 60 bytes an id);
    - ``deleted``: ids the source says were deleted upstream (a change feed's Delete), removed after
      the harvest whether or not the listing was complete.
    """

    http: HttpClient
    report: HarvestReport
    state: dict[str, Any] = field(default_factory=dict)
    known_version: Callable[[str], str | None] = lambda _id: None
    languages: tuple[str, ...] = ("en",)
    options: dict[str, Any] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    still_present: Callable[[Iterable[str]], None] = lambda _ids: None
    deleted: list[str] = field(default_factory=list)


@runtime_checkable
class Source(Protocol):
    """A harvestable source. ``name`` is stable across runs (it scopes deletions and checkpoints)."""

    name: str

    def harvest(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        """Yield every record currently in the source. A bad document is reported via
        ``ctx.report.fail`` and skipped; it never raises out of the loop."""
        ...


class SourceFactory(Protocol):
    """How the registry builds a source from what a user typed. ``options`` names the ``-o`` options it
    takes, beyond the run-wide ones every source is given (``RUN_OPTIONS``); ``image_option``, where it
    has one, the option that names its column or variable of pictures (what ``--iiif-column`` sets)."""

    kind: str
    options: ClassVar[frozenset[str]]
    image_option: ClassVar[str | None]

    @classmethod
    def detect(cls, spec: str) -> bool:
        """True when ``spec`` (a path or URL) obviously belongs to this kind."""
        ...

    @classmethod
    def from_spec(cls, spec: str, options: dict[str, Any]) -> Source:
        ...
