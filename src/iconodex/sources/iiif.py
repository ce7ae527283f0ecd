"""IIIF Presentation 2.1 / 3.0 harvester: a manifest, or a collection followed recursively.

One record per canvas (default) or per manifest (``per="manifest"``). Collections are walked
depth-first with a depth limit and a seen-set, so a collection that lists itself, or two that
list each other, end instead of looping; members of a document read over HTTP are followed only
to http(s) URLs. A canvas with nothing painted on it, or only video or sound, or an entry that is
not a canvas, is skipped with the reason in the report.

With a ``workdir`` (the collection's cache folder, which ingest passes), documents that came with
an ETag or Last-Modified are kept there, and a re-run asks for them conditionally (304: reuse).

A IIIF Change Discovery stream (an Activity Streams ``OrderedCollection``) is recognised by its
type and followed as ``iiif_changes`` explains: only the manifests that changed are read again.

Options: ``per`` (``canvas`` | ``manifest``), ``all_images`` (one record per image on a canvas,
ids ``canvas#1``, ``canvas#2``…), ``max_depth`` (collection nesting, default 5).

Metadata: ``label``, ``summary``, ``requiredStatement``, ``rights``, ``navDate`` and every
``metadata`` pair (named by its label) in the preferred language; other languages' values under
``name@lang``; the canvas's own fields under ``canvas.name``. Title: the manifest label, plus the
canvas label when the manifest has several canvases. Thumbnail: the canvas's own, else its image
service at ``THUMBNAIL_SIDE``; the manifest's only for a one-canvas manifest (else it is page 1's).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, IconodexError
from ..fetch.cache import Cache
from ..fetch.iiif_image import image_url
from ..records import ImageRef, SourceRecord
from . import SOURCES
from .base import HarvestContext
from .documents import is_url, load_json, option_flag
from .iiif_changes import ChangeReader, is_change_stream
from .iiif_model import (
    Doc,
    body_image,
    body_kind,
    canvases,
    collection_members,
    describe,
    doc_id,
    doc_type,
    homepage_url,
    is_embedded,
    is_fetchable,
    is_image_body,
    painted_bodies,
    thumbnail_url,
)

log = logging.getLogger(__name__)

_URL_HINTS = ("manifest", "collection", "iiif", ".json", "activity")
DOCUMENTS_FOLDER = "iiif-documents"  # under the collection's workdir: manifests kept for 304s
DOCUMENTS_MAX_BYTES = 512 * 1024**2
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
THUMBNAIL_SIDE = 150  # the shorter side of a canvas's thumbnail request, in pixels


@dataclass
class IIIFSource:
    """Harvests IIIF Presentation manifests and collections from a URL or a local file."""

    spec: str
    per: str = "canvas"
    all_images: bool = False
    max_depth: int = 5
    workdir: str | None = None  # where fetched documents are kept for conditional re-reads
    in_stream: bool = False  # a manifest named by a change stream: not itself read as a stream
    kind = "iiif"
    options = frozenset({"per", "max_depth", "all_images"})  # what -o may set
    image_option = None  # no column of pictures for --iiif-column to name

    @property
    def name(self) -> str:
        return f"iiif:{self.spec}"

    @classmethod
    def detect(cls, spec: str) -> bool:
        if is_url(spec):  # judge the path, not the host: iiif.example.org may well serve an Omeka S API
            parts = urlsplit(spec)
            where = f"{parts.path}?{parts.query}".lower()
            return any(hint in where for hint in _URL_HINTS)
        path = Path(spec)
        if path.suffix.lower() != ".json" or not path.is_file():
            return False
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(65536)
        return any(marker in head for marker in ('"Manifest"', '"sc:Manifest"', '"Collection"', '"sc:Collection"'))

    @classmethod
    def from_spec(cls, spec: str, options: dict[str, Any]) -> IIIFSource:
        per = str(options.get("per", "canvas"))
        if per not in {"canvas", "manifest"}:
            raise ConfigError(f"iiif option per={per!r} is not one of: canvas, manifest")
        try:
            max_depth = int(options.get("max_depth", 5))
        except (TypeError, ValueError):
            raise ConfigError(f"iiif option max_depth={options.get('max_depth')!r} is not a number") from None
        workdir = str(options["workdir"]) if options.get("workdir") else None
        return cls(spec, per=per, all_images=option_flag(options.get("all_images")), max_depth=max_depth,
                   workdir=workdir)

    def harvest(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        documents = Cache(Path(self.workdir) / DOCUMENTS_FOLDER, DOCUMENTS_MAX_BYTES) if self.workdir else None
        yield from self.walk(ctx, documents)

    def walk(self, ctx: HarvestContext, documents: Cache | None) -> Iterator[SourceRecord]:
        """The records of ``spec`` and of every collection member under it, documents kept in ``documents``."""
        seen = {self.spec}
        pending: list[tuple[str, int, Doc | None]] = [(self.spec, 0, None)]
        while pending:
            location, depth, doc = pending.pop()
            doc = doc or self._load(ctx, location, documents)
            if doc is None:
                continue
            seen.add(doc_id(doc))
            kind = doc_type(doc)
            if is_change_stream(doc) and depth == 0 and not self.in_stream:
                yield from ChangeReader(self, ctx, documents).harvest(doc, location)
            elif kind == "Collection":
                pending.extend(reversed(self._members(ctx, doc, location, depth, seen)))
            elif kind == "Manifest":
                yield from self._manifest_records(ctx, doc, location)
            else:
                ctx.report.fail(location, f"not a IIIF manifest or collection (type {kind or 'missing'})", listing=True)

    def reading(self, location: str) -> IIIFSource:
        """This source's options, reading one manifest or collection that a change stream names."""
        return replace(self, spec=location, in_stream=True)

    def _load(self, ctx: HarvestContext, location: str, documents: Cache | None) -> Doc | None:
        try:
            doc = load_json(ctx.http, location, documents)
        except IconodexError as exc:
            ctx.report.fail(location, str(exc), listing=True)
            return None
        if not isinstance(doc, dict):
            ctx.report.fail(location, f"not a IIIF document (a JSON {type(doc).__name__})", listing=True)
            return None
        return doc

    def _members(
        self, ctx: HarvestContext, collection: Doc, location: str, depth: int, seen: set[str]
    ) -> list[tuple[str, int, Doc | None]]:
        """The collection's members still to visit; loops and depth overruns are reported."""
        if depth >= self.max_depth:
            ctx.report.fail(location, f"collection nested deeper than {self.max_depth} levels; not followed", listing=True)
            return []
        members = []
        for member in collection_members(collection):
            member_id = doc_id(member)
            if member_id in seen:
                ctx.report.skip(member_id, "already visited (a collection loop or a repeated member)")
                continue
            seen.add(member_id)
            embedded = member if is_embedded(member) else None
            if embedded is None and not _followable(member_id, location):
                ctx.report.skip(member_id, "not an http(s) URL that can be fetched; not followed")
                continue
            members.append((member_id, depth + 1, embedded))
        return members

    def _manifest_records(self, ctx: HarvestContext, manifest: Doc, location: str) -> Iterator[SourceRecord]:
        manifest_id = doc_id(manifest) or location
        title, metadata = describe(manifest, ctx.languages)
        links = {"manifest": manifest_id, "page": homepage_url(manifest), "thumbnail": thumbnail_url(manifest)}
        all_canvases, rejected = canvases(manifest)
        for position, what in rejected:
            ctx.report.skip(f"{manifest_id} canvas {position}", f"{what}; skipped")
        if not all_canvases:
            ctx.report.skip(manifest_id, "manifest has no canvases")
            return
        if self.per == "manifest":
            yield from self._per_manifest(ctx, manifest_id, title, metadata, links, all_canvases)
            return
        # One canvas: the manifest's thumbnail shows it. Several: it shows page 1 only.
        shared_thumbnail = links["thumbnail"] if len(all_canvases) == 1 else ""
        for canvas in all_canvases:
            canvas_title, canvas_metadata = describe(canvas, ctx.languages)
            merged = {**metadata, **{f"canvas.{k}": v for k, v in canvas_metadata.items()}}
            full_title = f"{title} — {canvas_title}" if canvas_title and len(all_canvases) > 1 else title
            canvas_links = {**links, "canvas": doc_id(canvas), "thumbnail": thumbnail_url(canvas) or shared_thumbnail}
            yield from self._canvas_records(ctx, canvas, full_title or canvas_title, merged, canvas_links)

    def _per_manifest(
        self, ctx: HarvestContext, manifest_id: str, title: str, metadata: dict, links: dict, all_canvases: list[Doc]
    ) -> Iterator[SourceRecord]:
        for canvas in all_canvases:
            images = _canvas_images(canvas)
            if images:
                canvas_links = _with_thumbnail({**links, "canvas": doc_id(canvas)}, images[0])
                yield _record(ctx, manifest_id, images[0], title, metadata, canvas_links)
                return
        ctx.report.skip(manifest_id, "no canvas of the manifest shows an image")

    def _canvas_records(
        self, ctx: HarvestContext, canvas: Doc, title: str, metadata: dict, links: dict
    ) -> Iterator[SourceRecord]:
        canvas_id = links["canvas"] or f"{links['manifest']}#canvas"
        images = _canvas_images(canvas)
        if not images:
            ctx.report.skip(canvas_id, _why_no_image(canvas))
            return
        if not self.all_images or len(images) == 1:
            yield _record(ctx, canvas_id, images[0], title, metadata, _with_thumbnail(links, images[0]))
            return
        for number, image in enumerate(images, start=1):
            yield _record(ctx, f"{canvas_id}#{number}", image, title, metadata, _with_thumbnail(links, image))


def _followable(member_id: str, parent: str) -> bool:
    """A member to read: a URL a client can send; a file path only in a local document (a remote
    one must not make us read this machine's files)."""
    if is_url(member_id):
        return is_fetchable(member_id)
    return not is_url(parent)


def _canvas_images(canvas: Doc) -> list[ImageRef]:
    return [ref for body in painted_bodies(canvas) if is_image_body(body) and (ref := body_image(body))]


def _with_thumbnail(links: dict, image: ImageRef) -> dict:
    """A canvas keeps the thumbnail it was given, else gets its image service at thumbnail size.
    A plain image URL is its own best thumbnail."""
    if links.get("thumbnail") or image.kind != "iiif":
        return links
    return {**links, "thumbnail": image_url(image, THUMBNAIL_SIDE)}


def _why_no_image(canvas: Doc) -> str:
    bodies = painted_bodies(canvas)
    if not bodies:
        return "empty canvas: nothing is painted on it"
    if any(is_image_body(b) for b in bodies):
        return "its image has neither an image service nor an http(s) URL that can be fetched"
    kinds = sorted({body_kind(b) for b in bodies})
    return f"no image on the canvas, only {', '.join(kinds)}"


def _record(
    ctx: HarvestContext, record_id: str, image: ImageRef, title: str, metadata: dict, links: dict
) -> SourceRecord:
    ctx.report.harvested += 1
    clean_links = {k: _storable(v) for k, v in links.items() if v}
    clean_metadata = {_storable(k): [_storable(v) for v in values] for k, values in metadata.items()}
    return SourceRecord(id=_storable(record_id), image=image, title=_storable(title), metadata=clean_metadata,
                        links=clean_links)


def _storable(text: str) -> str:
    """``text`` with any lone surrogate (JSON can escape half a pair; UTF-8 and so SQLite cannot
    hold one) replaced by U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)


SOURCES.register("iiif", IIIFSource)
