"""How items and results look on the wire: their stored form plus URLs a browser can load."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..fetch.iiif_image import service_base
from ..records import ImageRef
from ..search import SearchResult
from ..store import Item

THUMB_BOX = 300  # IIIF thumbnails: !300,300 fits the grid's cards at 2x density
SARI_LINK_WIDTH = 1000  # SARI's `link`: {base}/full/1000,/0/default.jpg


def local_image_path(item_id: str) -> str:
    return f"/items/{quote(item_id, safe='')}/image"


def iiif_quality(ref: ImageRef) -> str:
    return "native" if ref.api_version in ("1", "1.0", "1.1") else "default"


def thumbnail_url(item_id: str, ref: ImageRef | None, links: dict[str, str]) -> str | None:
    """A small picture for the grid: the IIIF service at the card's size, the source's own
    thumbnail, the image URL, or our resized copy of a local file."""
    if ref is None:
        return links.get("thumbnail")
    if ref.kind == "iiif":
        return f"{service_base(ref.location)}/full/!{THUMB_BOX},{THUMB_BOX}/0/{iiif_quality(ref)}.jpg"
    if links.get("thumbnail"):
        return links["thumbnail"]
    return ref.location if ref.kind == "url" else local_image_path(item_id)


def viewer_links(links: dict[str, str]) -> dict[str, str]:
    """Links that open the item's IIIF manifest in well-known viewers (links only; nothing is loaded)."""
    manifest = links.get("manifest")
    if not manifest:
        return {}
    return {"mirador": f"https://projectmirador.org/embed/?iiif-content={quote(manifest, safe='')}",
            "universal_viewer": f"https://uv-v4.netlify.app/#?manifest={quote(manifest, safe='')}"}


def _public_image(data: dict[str, Any], item_id: str, ref: ImageRef | None) -> None:
    """A local picture is shown as our URL for it: the server's file layout stays private."""
    if ref is not None and ref.kind == "path":
        data["image"] = local_image_path(item_id)


def item_view(item: Item, inside: bool = False) -> dict[str, Any]:
    """An item as a client sees it; ``inside`` (the key holder) also sees its source."""
    return _view(item.to_dict(), item.id, item.image, item.links, inside)


def result_view(result: SearchResult, ref: ImageRef | None, inside: bool = False) -> dict[str, Any]:
    return _view(result.to_dict(), result.id, ref, result.links, inside)


def _view(data: dict[str, Any], item_id: str, ref: ImageRef | None, links: dict[str, str],
          inside: bool) -> dict[str, Any]:
    _public_image(data, item_id, ref)
    if not inside:
        data.pop("source", None)  # "folder:/srv/…", "omeka:https://intranet…": the server's inside
    data["thumbnail"] = thumbnail_url(item_id, ref, links)
    data["viewers"] = viewer_links(links)
    return data


def public_stats(stats: dict[str, Any]) -> dict[str, Any]:
    """``Collection.stats()`` without the collection's path, the sources' names and specs, and
    their failure reasons: each source keeps its kind, run count and report counts."""
    data = {key: value for key, value in stats.items() if key not in ("path", "sources")}
    data["sources"] = [{"kind": source.get("kind"), "last_run": source.get("last_run"),
                        "last_report": _counts(source.get("last_report") or {})}
                       for source in stats.get("sources", [])]
    return data


def _counts(report: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a report, nested reports included; lists (failures) become their length."""
    counts: dict[str, Any] = {}
    for key, value in report.items():
        if isinstance(value, dict):
            counts[key] = _counts(value)
        elif isinstance(value, list):
            counts[key] = len(value)
        elif isinstance(value, bool | int | float):
            counts[key] = value
    return counts


def sari_record(result: SearchResult, ref: ImageRef | None, base_url: str) -> dict[str, Any]:
    """One element of SARI's ``/query`` answer: ``{score, imageId, url, link}``; ``url`` is the
    IIIF service base for IIIF items, else the image URL (our own URL for a local file)."""
    if ref is not None and ref.kind == "iiif":
        url = service_base(ref.location)
        link = f"{url}/full/{SARI_LINK_WIDTH},/0/{iiif_quality(ref)}.jpg"
    elif ref is not None and ref.kind == "url":
        url = link = ref.location
    else:
        url = link = base_url.rstrip("/") + local_image_path(result.id)
    return {"score": result.score, "imageId": result.id, "url": url, "link": link}
