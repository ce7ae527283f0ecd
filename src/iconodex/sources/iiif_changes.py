"""IIIF Change Discovery API 1.0: follow a publisher's Activity Streams log instead of its whole tree.

The stream is an ``OrderedCollection`` whose pages (``OrderedCollectionPage``, linked by ``prev``
and ``next``) list activities oldest first. As the specification's consumer algorithm says, the
harvester reads it backwards, from ``last`` through ``prev``, and the newest activity about an
object wins: ``Create`` / ``Update`` / ``Add`` (re)read the manifest (conditionally: an unchanged
one costs a 304), ``Delete`` / ``Remove`` drop its records, ``Move`` does both. A re-run stops at the
first activity older than the newest one the last complete run saw; the first run reads it all.

Records of a manifest are canvases, so the state remembers which record ids each manifest gave:
that is what a ``Delete`` removes, and what an ``Update`` that dropped a canvas no longer has.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import IconodexError
from ..fetch.cache import Cache
from ..records import SourceRecord
from .base import HarvestContext
from .documents import load_json, utc_time
from .iiif_model import Doc, doc_id, doc_type, is_fetchable

if TYPE_CHECKING:
    from .iiif import IIIFSource

STREAM_TYPES = ("OrderedCollection", "OrderedCollectionPage")
_STATE = "change_discovery"
_REFRESH = ("Create", "Update", "Add")
_DROP = ("Delete", "Remove")
_HARVESTED = ("Manifest", "Collection")


def is_change_stream(doc: Doc) -> bool:
    return doc_type(doc) in STREAM_TYPES


class ChangeReader:
    """One run over a change stream for ``source`` (which reads the manifests themselves)."""

    def __init__(self, source: IIIFSource, ctx: HarvestContext, documents: Cache | None) -> None:
        self.source, self.ctx, self.documents = source, ctx, documents
        self.state: dict[str, Any] = ctx.state.setdefault(_STATE, {})
        self.records: dict[str, list[str]] = self.state.setdefault("records", {})
        self.until = utc_time(self.state.get("until"))
        self.newest = self.until
        self.decided: set[str] = set()
        self.activities = 0

    def harvest(self, stream: Doc, location: str) -> Iterator[SourceRecord]:
        for activity in self._newest_first(stream, location):
            yield from self._apply(activity)
        report = self.ctx.report
        if self.until is None:
            report.note = f"change discovery: whole stream read, {self.activities} activities"
        else:
            report.note = f"change discovery: {self.activities} activities since {self.state['until']}"
            report.partial = "deletions come as Delete activities"
        if report.complete and self.newest is not None:
            self.state["until"] = self.newest.isoformat().replace("+00:00", "Z")

    def _newest_first(self, stream: Doc, location: str) -> Iterator[dict[str, Any]]:
        """Activities from the last page backwards, up to the previous run's end time."""
        page_url = _ref(stream.get("last")) if doc_type(stream) == "OrderedCollection" else location
        page: Doc | None = stream if doc_type(stream) == "OrderedCollectionPage" else None
        read: set[str] = set()
        while page_url and page_url not in read:
            read.add(page_url)
            page = page if page is not None and doc_id(page) == page_url else self._load(page_url)
            if page is None:
                return
            for activity in reversed(_as_list(page.get("orderedItems"))):
                if not isinstance(activity, dict):
                    continue
                when = utc_time(activity.get("endTime") or activity.get("startTime"))
                if self.until is not None and when is not None and when < self.until:
                    return
                if when is not None and (self.newest is None or when > self.newest):
                    self.newest = when
                self.activities += 1
                yield activity
            page_url, page = _ref(page.get("prev")), None

    def _load(self, url: str) -> Doc | None:
        if not is_fetchable(url):
            self.ctx.report.fail(url[:200], "a change stream page that is not an http(s) URL", listing=True)
            return None
        try:
            page = load_json(self.ctx.http, url, self.documents)
        except IconodexError as exc:
            self.ctx.report.fail(url, str(exc), listing=True)
            return None
        if not isinstance(page, dict) or doc_type(page) != "OrderedCollectionPage":
            self.ctx.report.fail(url, "not an Activity Streams OrderedCollectionPage", listing=True)
            return None
        return page

    def _apply(self, activity: dict[str, Any]) -> Iterator[SourceRecord]:
        kind = doc_type(activity)
        target = activity.get("object")
        if kind == "Move":  # the object left for the target: gone here, new there
            yield from self._decide("Delete", target)
            yield from self._decide("Create", activity.get("target"))
        else:
            yield from self._decide(kind, target)

    def _decide(self, kind: str, target: object) -> Iterator[SourceRecord]:
        object_id = _ref(target)
        if not object_id or object_id in self.decided or kind not in (*_DROP, *_REFRESH):
            return  # an activity this reader does not know leaves the object to older ones
        self.decided.add(object_id)
        if kind in _DROP:
            self.ctx.deleted.extend(self.records.pop(object_id, []))
        elif kind in _REFRESH and isinstance(target, dict) and doc_type(target) in _HARVESTED:
            yield from self._reread(object_id)

    def _reread(self, object_id: str) -> Iterator[SourceRecord]:
        """The manifest (or collection) again; the records it no longer gives are deletions."""
        before = list(self.records.get(object_id, []))
        failures = len(self.ctx.report.failed)
        given: list[str] = []
        for record in self.source.reading(object_id).walk(self.ctx, self.documents):
            given.append(record.id)
            yield record
        if len(self.ctx.report.failed) > failures:  # not read: keep what is stored, retry next run
            given = list(dict.fromkeys([*before, *given]))
        self.ctx.deleted.extend(set(before) - set(given))
        self.records[object_id] = given


def _ref(value: object) -> str:
    if isinstance(value, str):
        return value
    return doc_id(value) if isinstance(value, dict) else ""


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
