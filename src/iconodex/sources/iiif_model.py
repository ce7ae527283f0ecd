"""Reading IIIF Presentation 2.1 and 3.0 documents: what they are, their canvases, their images.

Pure functions over parsed JSON, so the harvester in ``iiif.py`` only walks and reports. Real
manifests bend the specs (a service given as an object instead of a list, ``@id`` inside a v3
document, trailing slashes, ``/info.json`` left on a service id), so every accessor is lenient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from ..fetch.iiif_image import ref_from_info
from ..records import ImageRef, Metadata
from .langmap import add_localised, first_text

Doc = dict[str, Any]

_IMAGE_SERVICE_TYPES = {"ImageService1": "1.1", "ImageService2": "2", "ImageService3": "3"}
_VERSION_RANK = {"3": 3, "2": 2, "1.1": 1}


def doc_id(doc: Doc) -> str:
    """A resource's identifier, whichever of ``id`` / ``@id`` it uses."""
    value = doc.get("id") or doc.get("@id") or ""
    return value if isinstance(value, str) else ""


def doc_type(doc: Doc) -> str:
    """The resource type without prefix: ``sc:Manifest`` and ``Manifest`` both give ``Manifest``."""
    value = doc.get("type") or doc.get("@type") or ""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str)), "")
    return str(value).rsplit(":", 1)[-1]


def as_list(value: object) -> list[Any]:
    """Specs say "list", documents sometimes give one object: accept both."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def dicts(value: object) -> list[Doc]:
    return [v for v in as_list(value) if isinstance(v, dict)]


def presentation_version(doc: Doc) -> int:
    """3 for Presentation 3 (``items`` everywhere), 2 otherwise."""
    contexts = " ".join(str(c) for c in as_list(doc.get("@context")))
    if "presentation/3" in contexts:
        return 3
    if "presentation/2" in contexts or "sequences" in doc or "manifests" in doc:
        return 2
    return 3 if "type" in doc else 2


# -- collections ---------------------------------------------------------------------------------


def collection_members(doc: Doc) -> list[Doc]:
    """Member manifests and sub-collections (v3 ``items``; v2 ``manifests``, ``collections``, ``members``)."""
    members = dicts(doc.get("items")) + dicts(doc.get("members"))
    members += dicts(doc.get("collections")) + dicts(doc.get("manifests"))
    return [m for m in members if doc_type(m) in {"Manifest", "Collection"} and doc_id(m)]


def is_embedded(member: Doc) -> bool:
    """True when a collection carries a full manifest rather than a reference to fetch."""
    return doc_type(member) == "Manifest" and bool(member.get("items") or member.get("sequences"))


# -- canvases and images -------------------------------------------------------------------------


def canvases(manifest: Doc) -> tuple[list[Doc], list[tuple[int, str]]]:
    """The manifest's canvases (v3 ``items``; v2 the first sequence's ``canvases``), and for each
    entry that is not one, its position (from 1) and what it is instead, so it can be reported."""
    version = presentation_version(manifest)
    if version == 2:
        sequences = dicts(manifest.get("sequences"))
        entries = as_list(sequences[0].get("canvases")) if sequences else []
    else:
        entries = as_list(manifest.get("items"))
    found, rejected = [], []
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            rejected.append((position, f"a JSON {_json_kind(entry)}, not a canvas object"))
        elif version == 3 and doc_type(entry) != "Canvas":
            rejected.append((position, f"a {doc_type(entry) or 'resource without type'}, not a Canvas"))
        else:
            found.append(entry)
    return found, rejected


def _json_kind(value: object) -> str:
    names = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string", list: "list"}
    return names.get(type(value), type(value).__name__)


def painted_bodies(canvas: Doc) -> list[Doc]:
    """What is painted on the canvas, choices resolved to their first (preferred) option."""
    if "images" in canvas:  # Presentation 2
        bodies = [a.get("resource") for a in dicts(canvas.get("images"))]
    else:
        bodies = [
            body
            for page in dicts(canvas.get("items"))
            for annotation in dicts(page.get("items"))
            if _is_painting(annotation)
            for body in as_list(annotation.get("body"))
        ]
    return [_first_choice(b) for b in bodies if isinstance(b, dict)]


def _is_painting(annotation: Doc) -> bool:
    motivations = {str(m).rsplit(":", 1)[-1] for m in as_list(annotation.get("motivation"))}
    return not motivations or "painting" in motivations


def _first_choice(body: Doc) -> Doc:
    """v3 ``Choice`` → first item; v2 ``oa:Choice`` → ``default`` (else first ``item``)."""
    if doc_type(body) != "Choice":
        return body
    options = dicts(body.get("items")) or dicts(body.get("default")) + dicts(body.get("item"))
    return _first_choice(options[0]) if options else body


def is_image_body(body: Doc) -> bool:
    kind = doc_type(body)
    media = str(body.get("format") or "")
    if kind in {"Image", "Thumbnail"} or media.startswith("image/"):
        return True
    return not kind and not media and bool(image_service(body))


def body_kind(body: Doc) -> str:
    """A short name for what a non-image body is (``Video``, ``Sound``, ``text/html``…), for reports."""
    return doc_type(body) or str(body.get("format") or "unknown content")


def image_service(resource: Doc) -> ImageRef | None:
    """The best IIIF Image service of a resource (highest API version), as an ``iiif`` ImageRef
    carrying the resource's size, so the first request can already be sized for the model."""
    found = [ref for service in dicts(resource.get("service")) if (ref := _service_ref(service, resource))]
    if not found:
        return None
    return max(found, key=lambda ref: _VERSION_RANK.get(ref.api_version or "", 0))


def _service_ref(service: Doc, resource: Doc) -> ImageRef | None:
    version = _service_version(service)
    base = doc_id(service).strip()
    if version is None or not is_fetchable(base):
        return None
    # A service block is a partial info.json; the painted resource usually gives the size.
    described = {"width": resource.get("width"), "height": resource.get("height"), **service}
    return replace(ref_from_info(described, base), api_version=version)


def _service_version(service: Doc) -> str | None:
    kind = doc_type(service)
    if kind in _IMAGE_SERVICE_TYPES:
        return _IMAGE_SERVICE_TYPES[kind]
    hints = " ".join(str(v) for v in as_list(service.get("@context")) + as_list(service.get("profile")))
    if "iiif.io/api/image/3" in hints:
        return "3"
    if "iiif.io/api/image/2" in hints:
        return "2"
    if "iiif.io/api/image/1" in hints or "image-api/1.1" in hints:
        return "1.1"
    return None


def body_image(body: Doc) -> ImageRef | None:
    """An image body's picture: its image service when it has one, else the body's own URL."""
    service = image_service(body)
    if service:
        return service
    url = doc_id(body).strip()
    return ImageRef("url", url) if is_fetchable(url) else None


def is_fetchable(url: str) -> bool:
    """An absolute http(s) URL with a host that a client can send: no control characters and no
    lone surrogates (a document can hold both; a request line cannot)."""
    if not url.startswith(("http://", "https://")):
        return False
    try:
        url.encode("utf-8")
        host = urlsplit(url).hostname
    except (UnicodeEncodeError, ValueError):
        return False
    return bool(host) and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in url)


def thumbnail_url(resource: Doc) -> str:
    """The first thumbnail's URL (string or object form), or ``""``."""
    for thumb in as_list(resource.get("thumbnail")):
        if isinstance(thumb, str):
            return thumb
        if isinstance(thumb, dict) and doc_id(thumb):
            return doc_id(thumb)
    return ""


def homepage_url(resource: Doc) -> str:
    """The resource's web page (v3 ``homepage``, v2 ``related``), or ``""``."""
    for page in as_list(resource.get("homepage") or resource.get("related")):
        if isinstance(page, str):
            return page
        if isinstance(page, dict) and doc_id(page):
            return doc_id(page)
    return ""


# -- descriptive metadata ------------------------------------------------------------------------

# Presentation 3 name → Presentation 2 name, for the fields that describe a resource.
_DESCRIPTIVE = {
    "summary": "description",
    "requiredStatement": "attribution",
    "rights": "license",
    "navDate": "navDate",
}


def describe(resource: Doc, languages: Sequence[str]) -> tuple[str, Metadata]:
    """A resource's title and metadata.

    Values in the preferred language (and those without a language) go under the field name;
    values in other languages are kept under ``field@lang`` so nothing is lost and keyword
    search still finds them.
    """
    metadata: Metadata = {}
    title = first_text(resource.get("label"), languages)
    add_localised(metadata, "label", resource.get("label"), languages)
    for v3_name, v2_name in _DESCRIPTIVE.items():
        value = resource.get(v3_name, resource.get(v2_name))
        if isinstance(value, dict) and "value" in value:  # requiredStatement: {label, value}
            value = value["value"]
        add_localised(metadata, v3_name, value, languages)
    for pair in dicts(resource.get("metadata")):
        name = first_text(pair.get("label"), languages)
        if name:
            add_localised(metadata, name, pair.get("value"), languages)
    return title, metadata


