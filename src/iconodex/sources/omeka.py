"""Omeka S REST API harvester (what the UForm seed reads with ``omeka-s-api-client``).

Lists ``/api/items`` page by page (``Link: rel="next"``; the total from ``Omeka-S-Total-Results``),
optionally inside one item set, and turns each item with a picture into one record: id = the
Omeka item id, version = ``o:modified``. The picture comes from the item's media
(``/api/media/{id}``): a IIIF image service when the media is IIIF, else the ``large``
thumbnail, and the original file only as a last resort (originals may be 160 MB TIFFs).

Incremental: the API has no modified-since filter, so every run lists all items (cheap, paged),
but media are only requested for items whose ``o:modified`` changed; unchanged items are yielded
with the picture remembered in ``ctx.state``. Items that vanished from a *complete* listing are
deletions, which the pipeline handles.

API keys (``key_identity``/``key_credential``) travel as query parameters, as Omeka S requires;
every URL that reaches a log or an error goes through ``mask_url``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..errors import ConfigError, IconodexError, SourceError
from ..fetch.http import first_header_link, mask_url
from ..fetch.iiif_image import service_base
from ..records import ImageRef, Metadata, SourceRecord, add_value
from . import SOURCES
from .base import HarvestContext
from .documents import is_url, response_json

log = logging.getLogger(__name__)

_API_SUFFIX = re.compile(r"/api(/items)?/?$")
# Value keys in the order that gives the most readable text for each Omeka value type:
# literals and custom vocabs carry @value, uri values o:label then @id, linked resources display_title.
_VALUE_KEYS = ("@value", "display_title", "o:label", "@id", "value_resource_id")
_STATE_IMAGES = "images"


@dataclass
class OmekaSource:
    """Harvests the items of an Omeka S instance (optionally one item set) through its REST API."""

    root: str
    item_set: str | None = None
    properties: tuple[str, ...] = ()
    per_page: int = 100
    keys: dict[str, str] = field(default_factory=dict, repr=False)
    kind = "omeka"

    @property
    def name(self) -> str:
        return f"omeka:{self.root}" + (f"#item_set={self.item_set}" if self.item_set else "")

    @property
    def api(self) -> str:
        return f"{self.root}/api"

    @classmethod
    def detect(cls, spec: str) -> bool:
        return is_url(spec) and bool(_API_SUFFIX.search(spec.split("?", 1)[0]))

    @classmethod
    def from_spec(cls, spec: str, options: dict[str, Any]) -> OmekaSource:
        if not is_url(spec):
            raise ConfigError(f"an Omeka S source is the instance URL (https://…), not {spec!r}")
        parts = urlsplit(spec)
        root = _API_SUFFIX.sub("", spec.split("?", 1)[0]).rstrip("/")
        # what a user copies from a browser (…/api/items?item_set_id=7&key_identity=…) counts as options
        options = {**_spec_options(parts.query), **options}
        keys = {k: str(options[k]) for k in ("key_identity", "key_credential") if options.get(k)}
        if len(keys) == 1:
            raise ConfigError("Omeka S needs both key_identity and key_credential, or neither")
        return cls(
            root,
            item_set=str(options["item_set"]) if options.get("item_set") not in (None, "") else None,
            properties=_split_terms(options.get("properties")),
            per_page=_positive_int(options.get("per_page", 100), "per_page"),
            keys=keys,
        )

    # -- listing ---------------------------------------------------------------------------------

    def harvest(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        remembered: dict[str, Any] = ctx.state.setdefault(_STATE_IMAGES, {})
        newest = ctx.state.get("newest_modified", "")
        for item in self._items(ctx):
            record = self._record(ctx, item, remembered)
            if record is not None:
                ctx.report.harvested += 1
                newest = max(newest, record.version or "")
                yield record
        ctx.state["newest_modified"] = newest

    def _items(self, ctx: HarvestContext) -> Iterator[dict[str, Any]]:
        """Every item of every page; a bad page is reported and ends the listing (incomplete)."""
        params: dict[str, Any] | None = {"per_page": self.per_page, "page": 1, "sort_by": "id", **self.keys}
        if self.item_set:
            params["item_set_id"] = self.item_set
        url: str | None = f"{self.api}/items"
        seen_pages: set[str] = set()
        while url:
            log.debug("reading Omeka S page %s", mask_url(url))
            try:
                response = ctx.http.get(url, params=params, headers={"Accept": "application/ld+json"})
                page = response_json(response)
            except IconodexError as exc:
                ctx.report.fail(mask_url(url), str(exc), listing=True)
                return
            if not isinstance(page, list):
                ctx.report.fail(mask_url(url), f"expected a JSON list of items, got a JSON {type(page).__name__}", listing=True)
                return
            _set_total(ctx, response.headers.get("Omeka-S-Total-Results"))
            seen_pages.add(str(response.url))
            yield from (item for item in page if isinstance(item, dict))
            url, params = first_header_link(response.headers.get_list("Link"), "next"), None
            if url in seen_pages:  # a server whose "next" points back would otherwise loop forever
                ctx.report.fail(mask_url(url), "the next page link points to a page already read", listing=True)
                return

    # -- one item --------------------------------------------------------------------------------

    def _record(self, ctx: HarvestContext, item: dict[str, Any], remembered: dict[str, Any]) -> SourceRecord | None:
        item_id = str(item.get("o:id", "")).strip()
        if not item_id:
            ctx.report.skip(str(item.get("@id", "?")), "item without o:id")
            return None
        version = _date_value(item.get("o:modified")) or _date_value(item.get("o:created")) or None
        try:
            image = self._image_of(ctx, item_id, item, version, remembered)
        except IconodexError as exc:  # the item exists: keep it (listing incomplete), retry next run
            ctx.report.fail(f"item {item_id}", str(exc), listing=True)
            return None
        if image is None:
            ctx.report.skip(f"item {item_id}", "no image media")
            return None
        metadata = item_metadata(item, self.properties)
        return SourceRecord(
            id=item_id,
            image=image,
            title=_title(item, metadata),
            metadata=metadata,
            links=_links(item),
            version=version,
        )

    def _image_of(
        self, ctx: HarvestContext, item_id: str, item: dict[str, Any], version: str | None, remembered: dict[str, Any]
    ) -> ImageRef | None:
        """The item's picture: remembered when the item is unchanged, else read from its media.

        ``remembered`` maps item id → {"version", "image"}; an item without a picture is
        remembered too, so an unchanged video-only item costs no media request either.
        """
        memo = remembered.get(item_id) or {}
        if version and memo.get("version") == version:
            known = memo.get("image")
            if known is None:
                return None
            if ctx.known_version(item_id) == version:
                ctx.report.unchanged += 1
                return ImageRef(*known)
        image = self._item_image(ctx, item)
        remembered[item_id] = {"version": version, "image": [image.kind, image.location, image.api_version] if image else None}
        return image

    def _item_image(self, ctx: HarvestContext, item: dict[str, Any]) -> ImageRef | None:
        """The first media that is a picture, primary media first."""
        for media_id in _media_ids(item):
            response = ctx.http.get(f"{self.api}/media/{media_id}", params=self.keys or None)
            media = response_json(response)
            if not isinstance(media, dict):
                raise SourceError(f"media {media_id}: expected a JSON object, got a JSON {type(media).__name__}")
            image = media_image(media)
            if image is not None:
                return image
        return None


# -- reading Omeka documents (pure functions, tested on the real fixtures) -----------------------


def item_metadata(resource: dict[str, Any], properties: tuple[str, ...] = ()) -> Metadata:
    """Property values by term (``dcterms:title`` …), all values of every value type as text."""
    metadata: Metadata = {}
    for term, values in resource.items():
        if not _is_property(term, values) or (properties and term not in properties):
            continue
        for value in values:
            add_value(metadata, term, value_text(value))
    return metadata


def value_text(value: object) -> str | None:
    """The readable text of one Omeka value, whatever its type (literal, uri, resource, custom vocab…)."""
    if not isinstance(value, dict):
        return None
    for key in _VALUE_KEYS:
        text = value.get(key)
        if text not in (None, ""):
            return str(text)
    return None


def media_image(media: dict[str, Any]) -> ImageRef | None:
    """A media's picture: its IIIF service, else the large thumbnail, else (last) the original."""
    if media.get("o:ingester") == "iiif" and isinstance(media.get("o:source"), str):
        return ImageRef("iiif", service_base(media["o:source"]), api_version=_iiif_version(media))
    if not str(media.get("o:media_type") or "").startswith("image/"):
        return None
    thumbnails = media.get("o:thumbnail_urls") or media.get("thumbnail_display_urls") or {}
    for size in ("large", "medium"):
        if isinstance(thumbnails, dict) and thumbnails.get(size):
            return ImageRef("url", str(thumbnails[size]))
    original = media.get("o:original_url")
    if original:
        log.info("media %s has no thumbnails; using its original file", media.get("o:id"))
        return ImageRef("url", str(original))
    return None


def _iiif_version(media: dict[str, Any]) -> str | None:
    data = media.get("data") if isinstance(media.get("data"), dict) else {}
    context = str(data.get("@context", ""))
    for marker, version in (("image/3", "3"), ("image/2", "2"), ("image/1", "1.1")):
        if marker in context:
            return version
    return None


def _is_property(term: str, values: object) -> bool:
    return ":" in term and not term.startswith(("o:", "@", "o-")) and isinstance(values, list)


def _media_ids(item: dict[str, Any]) -> list[str]:
    refs = [item.get("o:primary_media")] + list(item.get("o:media") or [])
    ids = [str(ref["o:id"]) for ref in refs if isinstance(ref, dict) and ref.get("o:id") is not None]
    return list(dict.fromkeys(ids))


def _date_value(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("@value")
    return str(value) if value else ""


def _title(item: dict[str, Any], metadata: Metadata) -> str:
    title = item.get("o:title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    return (metadata.get("dcterms:title") or [""])[0]


def _links(item: dict[str, Any]) -> dict[str, str]:
    links = {"page": str(item.get("@id") or "")}
    thumbnails = item.get("thumbnail_display_urls")
    if isinstance(thumbnails, dict) and thumbnails.get("medium"):
        links["thumbnail"] = str(thumbnails["medium"])
    return {k: v for k, v in links.items() if v}


def _set_total(ctx: HarvestContext, header: str | None) -> None:
    if header and header.strip().isdigit():
        ctx.report.total_hint = int(header)


def _spec_options(query: str) -> dict[str, str]:
    renamed = {"item_set_id": "item_set", "per_page": "per_page", "key_identity": "key_identity",
               "key_credential": "key_credential"}
    return {renamed[k]: v for k, v in parse_qsl(query) if k in renamed and v}


def _split_terms(value: object) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    parts = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(p.strip() for p in parts if str(p).strip())


def _positive_int(value: object, option: str) -> int:
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise ConfigError(f"omeka option {option}={value!r} must be a whole number above 0")
    return number


SOURCES.register("omeka", OmekaSource)
