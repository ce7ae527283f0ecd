"""Omeka S REST API harvester (what the UForm seed reads with ``omeka-s-api-client``).

Lists ``/api/items`` page by page (``Link: rel="next"``; the total from ``Omeka-S-Total-Results``),
optionally inside one item set, and turns each item with a picture into one record: id = the
Omeka item id, version = ``o:modified``. The picture comes from the item's media
(``/api/media/{id}``): a IIIF image service when the media is IIIF, else the ``large``
thumbnail, and the original file only as a last resort (originals may be 160 MB TIFFs).

Incremental: the first run (and ``-o full=true``) lists every item; a re-run lists only the items
changed since the newest date the last complete run saw (``modified_after`` on Omeka S 4.0+, else
newest first until the mark), then the ids of every item (``return_scalar=id``, Omeka S 3.2+) so
deletions are still found; ``omeka_changes`` explains the details. Media are only requested for
items whose ``o:modified`` changed: the picture of an unchanged item is remembered in ``ctx.state``.

Links: ``page`` is the item's public page ``/s/<site>/item/<id>``, for the site named by ``-o site=``
or else the first of the item's ``o:site`` that ``/api/sites`` knows; ``api`` is its JSON-LD document.
Values keep their ``@language``: the preferred languages' values (and untagged ones) under the term,
the others under ``term@lang``, as the IIIF harvester does; the title honours ``languages`` too.

API keys (``key_identity``/``key_credential``) travel as query parameters, as Omeka S requires;
every URL that reaches a log or an error goes through ``mask_url``. They come from ``-o`` options,
the API URL, ``ICONODEX_OMEKA_KEY_IDENTITY``/``_CREDENTIAL`` or the config file, at run time only:
the collection remembers that keys were used, so a re-run without them stops with a hint instead
of harvesting the public items only and deleting the private ones.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, urljoin, urlsplit

import httpx

from ..config import Settings
from ..errors import ConfigError, FetchError, IconodexError, SourceError
from ..fetch.http import first_header_link, mask_url
from ..fetch.iiif_image import service_base
from ..records import ImageRef, Metadata, SourceRecord
from . import SOURCES
from . import omeka_changes as changes
from .base import HarvestContext
from .documents import is_url, option_flag, response_json
from .langmap import add_localised, first_text

log = logging.getLogger(__name__)

_API_SUFFIX = re.compile(r"/api(/items)?/?$")
# Value keys in the order that gives the most readable text for each Omeka value type:
# literals and custom vocabs carry @value, uri values o:label then @id, linked resources display_title.
_VALUE_KEYS = ("@value", "display_title", "o:label", "@id", "value_resource_id")
_STATE_IMAGES = "images"
_STATE_KEYS_USED = "keys_used"
ID_PAGE = 10_000  # ids per page of the id-only listing (about 100 kB of JSON)
_KEY_OPTIONS = ("key_identity", "key_credential")
KEYS_HINT = ("give the Omeka S API keys with -o key_identity=… -o key_credential=…, or the environment "
             "variables ICONODEX_OMEKA_KEY_IDENTITY and ICONODEX_OMEKA_KEY_CREDENTIAL, or omeka_key_identity "
             "and omeka_key_credential in iconodex.toml")


@dataclass
class OmekaSource:
    """Harvests the items of an Omeka S instance (optionally one item set) through its REST API."""

    root: str
    item_set: str | None = None
    properties: tuple[str, ...] = ()
    per_page: int = 100
    keys: dict[str, str] = field(default_factory=dict, repr=False)
    site: str | None = None
    full: bool = False
    full_every: int = 7
    overlap: int = 60
    kind = "omeka"
    options = frozenset({"item_set", "properties", "per_page", "key_identity", "key_credential", "site",
                         "full_every", "overlap"})  # what -o may set
    image_option = None  # no column of pictures for --iiif-column to name

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
        return cls(
            root,
            item_set=_text_option(options, "item_set"),
            properties=_split_terms(options.get("properties")),
            per_page=_positive_int(options.get("per_page", 100), "per_page"),
            keys=_key_pair({k: options.get(k) for k in _KEY_OPTIONS}),
            site=_text_option(options, "site"),
            full=option_flag(options.get("full")),
            full_every=_positive_int(options.get("full_every", 7), "full_every"),
            overlap=_positive_int(options.get("overlap", 60), "overlap"),
        )

    # -- listing ---------------------------------------------------------------------------------

    def harvest(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        run = self if self.keys else replace(self, keys=configured_keys(ctx.settings))
        if ctx.state.get(_STATE_KEYS_USED) and not run.keys:
            raise ConfigError(f"this Omeka S source was harvested with API keys and none were given now; {KEYS_HINT}")
        ctx.state[_STATE_KEYS_USED] = bool(run.keys)
        yield from run._harvest(ctx)

    def _harvest(self, ctx: HarvestContext) -> Iterator[SourceRecord]:
        remembered: dict[str, Any] = ctx.state.setdefault(_STATE_IMAGES, {})
        plan = changes.choose_plan(ctx.state, full=self.full, full_every=self.full_every, overlap=self.overlap,
                                   probe=lambda: self._capabilities(ctx))
        newest = ctx.state.get(changes.MARK, "")
        sites = {} if self.site else self._site_slugs(ctx)
        listed = changes.unique_items(item for listing in plan.listings for item in self._items(ctx, listing))
        read, left_out = 0, set()
        for item in listed:
            read += 1
            newest = changes.newer(newest, _date_value(item.get("o:modified")) or _date_value(item.get("o:created")))
            record = self._record(ctx, item, remembered, sites)
            if record is None:
                left_out.add(str(item.get("o:id")))  # e.g. its last picture was removed: not still present
                continue
            ctx.report.harvested += 1
            yield record
        if plan.id_listing:
            self._vouch_for_present(ctx, left_out)
        ctx.report.note, ctx.report.partial = changes.run_notes(plan, read, self.full_every)
        if ctx.report.complete:  # a mark past an unread page would skip its items for good
            ctx.state[changes.MARK] = newest
            ctx.state[changes.RUNS_SINCE_FULL] = ctx.state.get(changes.RUNS_SINCE_FULL, 0) + 1 if plan.incremental else 0

    def _capabilities(self, ctx: HarvestContext) -> tuple[bool, bool]:
        """(filters by date, lists ids only): a filter an older server ignores returns items there."""
        future = self._probe(ctx, {"modified_after": changes.FAR_FUTURE})
        ids = self._probe(ctx, {"return_scalar": "id"})
        return future == [], changes.scalar_ids(ids) is not None

    def _probe(self, ctx: HarvestContext, params: dict[str, str]) -> object:
        try:
            return response_json(ctx.http.get(f"{self.api}/items", params={"per_page": 1, **params, **self.keys},
                                              headers={"Accept": "application/ld+json"}))
        except IconodexError as exc:  # e.g. HTTP 400 for an unknown return_scalar field: not supported
            log.info("Omeka S capability probe %s: %s", sorted(params), exc)
            return None

    def _vouch_for_present(self, ctx: HarvestContext, left_out: set[str]) -> None:
        """Page through ``return_scalar=id`` and tell the pipeline these items (but ``left_out``) still exist."""
        params = {"return_scalar": "id", "per_page": str(ID_PAGE), "sort_by": "id"}
        for url, page in self._pages(ctx, params, dict):
            ids = changes.scalar_ids(page)
            if ids is None:
                ctx.report.fail(mask_url(url), "expected ids (return_scalar), got whole items", listing=True)
                return
            ctx.still_present([i for i in ids if i not in left_out])

    def _items(self, ctx: HarvestContext, listing: changes.Listing) -> Iterator[dict[str, Any]]:
        """Every item of every page of one listing, up to its end; a bad page is reported and ends
        the listing (incomplete)."""
        params = {"per_page": self.per_page, "sort_by": "id", **listing.params}
        for url, page in self._pages(ctx, params, list):
            for number, item in enumerate(page, 1):
                if not isinstance(item, dict):  # it may stand for an item: keep what is stored
                    ctx.report.fail(f"{mask_url(url)} #{number}", "not a JSON object", listing=True)
                elif listing.reached_end(item):
                    return
                else:
                    yield item

    def _pages(self, ctx: HarvestContext, query: dict[str, Any], expected: type) -> Iterator[tuple[str, Any]]:
        """(URL, JSON) of every page of ``/api/items`` with ``query`` (and the keys, the item set),
        following ``Link: next``; ``expected`` is ``list`` for items, ``dict`` for an id → id object."""
        params: dict[str, Any] | None = {**query, "page": 1, **self.keys}
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
                ctx.report.fail(mask_url(url), self._explain(exc), listing=True)
                return
            if not isinstance(page, list if expected is list else list | dict):
                what = "a JSON list of items" if expected is list else "a JSON object of ids"
                ctx.report.fail(mask_url(url), f"expected {what}, got a JSON {type(page).__name__}", listing=True)
                return
            if "return_scalar" not in query:  # the total of the items, not of the ids
                _set_total(ctx, response.headers.get("Omeka-S-Total-Results"))
            seen_pages.add(str(response.url))
            yield url, page
            url, params = (_next_page(ctx, response, seen_pages) if page else None), None

    def _explain(self, exc: IconodexError) -> str:
        """A refusal without keys is most likely a private collection: say where keys go."""
        if isinstance(exc, FetchError) and exc.status in (401, 403) and not self.keys:
            return f"{exc} (private items? {KEYS_HINT})"
        return str(exc)

    def _site_slugs(self, ctx: HarvestContext) -> dict[str, str]:
        """Site id → slug, for the public item pages; empty (no page links) when the sites cannot be read."""
        try:
            sites = response_json(ctx.http.get(f"{self.api}/sites", params={"per_page": 500, **self.keys}))
        except IconodexError as exc:
            log.info("no public item pages: cannot list the Omeka S sites (%s)", exc)
            return {}
        if not isinstance(sites, list):
            return {}
        return {str(site["o:id"]): str(site["o:slug"]) for site in sites
                if isinstance(site, dict) and site.get("o:id") is not None and site.get("o:slug")}

    def _page_url(self, item: dict[str, Any], item_id: str, sites: dict[str, str]) -> str | None:
        slug = self.site or next((sites[ref] for ref in _ref_ids(item.get("o:site")) if ref in sites), None)
        return f"{_public_url(self.root)}/s/{quote(slug, safe='')}/item/{quote(item_id, safe='')}" if slug else None

    # -- one item --------------------------------------------------------------------------------

    def _record(
        self, ctx: HarvestContext, item: dict[str, Any], remembered: dict[str, Any], sites: dict[str, str]
    ) -> SourceRecord | None:
        item_id = _resource_id(item.get("o:id"))
        if item_id is None:
            ctx.report.skip(mask_url(str(item.get("@id", "?")))[:200], "item without a numeric o:id")
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
        return SourceRecord(
            id=item_id,
            image=image,
            title=item_title(item, ctx.languages),
            metadata=item_metadata(item, self.properties, ctx.languages),
            links=_links(item, self._page_url(item, item_id, sites)),
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


def item_metadata(resource: dict[str, Any], properties: tuple[str, ...] = (),
                  languages: Sequence[str] = ("en",)) -> Metadata:
    """Property values by term (``dcterms:title`` …), all values of every value type as text; values
    in a language other than the preferred one go under ``term@lang``."""
    metadata: Metadata = {}
    for term, values in resource.items():
        if not _is_property(term, values) or (properties and term not in properties):
            continue
        add_localised(metadata, term, _language_values(values), languages)
    return metadata


def item_title(item: dict[str, Any], languages: Sequence[str] = ("en",)) -> str:
    """The ``dcterms:title`` in the best language; else Omeka's display title (``o:title``)."""
    values = item.get("dcterms:title")
    title = first_text(_language_values(values), languages) if isinstance(values, list) else ""
    if title:
        return title
    display = item.get("o:title")
    return display.strip() if isinstance(display, str) else ""


def value_text(value: object) -> str | None:
    """The readable text of one Omeka value, whatever its type (literal, uri, resource, custom vocab…)."""
    if not isinstance(value, dict):
        return None
    for key in _VALUE_KEYS:
        text = value.get(key)
        if text not in (None, ""):
            return str(text)
    return None


def _language_values(values: list[Any]) -> list[dict[str, Any]]:
    """Omeka values as JSON-LD ``{"@value", "@language"}`` pairs, whatever their value type."""
    pairs = []
    for value in values:
        text = value_text(value)
        if text is not None:
            language = value.get("@language") if isinstance(value, dict) else None
            pairs.append({"@value": text, "@language": language if isinstance(language, str) else None})
    return pairs


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
    return _ref_ids([item.get("o:primary_media"), *_as_list(item.get("o:media"))])


def _ref_ids(refs: object) -> list[str]:
    """The ``o:id`` of each ``{"@id", "o:id"}`` reference, in order, once each."""
    ids = [_resource_id(ref.get("o:id")) for ref in _as_list(refs) if isinstance(ref, dict)]
    return list(dict.fromkeys(i for i in ids if i is not None))


def _resource_id(value: object) -> str | None:
    """An Omeka resource id (a whole number), as text; None for anything else (it would end up in a URL)."""
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return text if text.isascii() and text.isdigit() else None


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _date_value(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("@value")
    return str(value) if value else ""


def _public_url(url: str) -> str:
    """``url`` without ``user:pass@``: a link that is stored and shown must not carry a password."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()


def _links(item: dict[str, Any], page: str | None) -> dict[str, str]:
    links = {"page": page or "", "api": str(item.get("@id") or "")}
    thumbnails = item.get("thumbnail_display_urls")
    if isinstance(thumbnails, dict) and thumbnails.get("medium"):
        links["thumbnail"] = str(thumbnails["medium"])
    return {k: v for k, v in links.items() if v}


def _next_page(ctx: HarvestContext, response: httpx.Response, seen_pages: set[str]) -> str | None:
    """The absolute URL of the next page, or None at the end (a last page has no "next" link).

    The next page must be on the page's own server: Omeka S pages within its API, and a link
    elsewhere would send the harvester (and the keys in the link) to hosts nobody named."""
    link = first_header_link(response.headers.get_list("Link"), "next")
    if link is None:
        return None
    url = _same_server(str(response.url), link.strip())
    if url is None:
        ctx.report.fail(mask_url(link), "the next page link is not a URL on the same server", listing=True)
    elif _as_sent(url) in seen_pages:  # a server whose "next" points back would otherwise loop forever
        ctx.report.fail(mask_url(url), "the next page link points to a page already read", listing=True)
        url = None
    return url


def _as_sent(url: str) -> str:
    """``url`` spelled as httpx sends it and reports it back (``response.url``: non-ASCII characters
    percent-encoded), so a link back to a page read already is recognised however it is written."""
    try:
        return str(httpx.URL(url))
    except httpx.InvalidURL:
        return url


def _same_server(base: str, link: str) -> str | None:
    """``link`` resolved against ``base`` when it stays on ``base``'s host (and port, for one scheme).

    An ``http`` link from an ``https`` page (an Omeka S behind a TLS proxy it does not know about)
    is read over ``https``: the keys in its query never travel in clear."""
    try:
        here, there = urlsplit(base), urlsplit(urljoin(base, link))
        ports = (here.port, there.port)
    except ValueError:  # a bad port or IPv6 literal
        return None
    if there.scheme not in ("http", "https") or there.hostname != here.hostname:
        return None
    if here.scheme == "https" and there.scheme == "http":
        there = there._replace(scheme="https", netloc=here.netloc)
    elif there.scheme == here.scheme and ports[0] != ports[1]:
        return None
    return there.geturl()


def _set_total(ctx: HarvestContext, header: str | None) -> None:
    text = (header or "").strip()
    if text.isascii() and text.isdigit():  # "²".isdigit() is True too
        ctx.report.total_hint = int(text)


def configured_keys(settings: Settings) -> dict[str, str]:
    """The API keys from the config file or ``ICONODEX_OMEKA_KEY_*`` (empty when none are set)."""
    return _key_pair({"key_identity": settings.omeka_key_identity, "key_credential": settings.omeka_key_credential})


def _key_pair(values: dict[str, object]) -> dict[str, str]:
    keys = {name: str(value) for name, value in values.items() if value not in (None, "")}
    if len(keys) == 1:
        raise ConfigError(f"Omeka S needs both key_identity and key_credential, or neither; {KEYS_HINT}")
    return keys


def _text_option(options: dict[str, Any], name: str) -> str | None:
    value = options.get(name)
    return None if value in (None, "") else str(value)


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
