"""IIIF Image API: ask a server for a picture at the size the model needs, never the original.

Versions differ in small ways that matter:
- 1.1 names the default quality ``native``; 2 and 3 call it ``default``;
- ``w,`` is a level-1 size in 1.1, 2 and 3; ``!w,h`` only level 2 (a 1.1 level-1 server may refuse it);
- level-0 servers (often static files) only answer the sizes they advertise in ``info.json``,
  as ``w,`` in 1.1/2 (the canonical form there) and ``w,h`` in 3, and their tiles (``iiif_tiles``);
- an info.json names its service by ``@id`` (1.1, 2) or ``id`` (3), and its version by
  ``@context``, ``type`` or ``protocol``.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

from ..errors import SourceError
from ..records import ImageRef
from . import iiif_tiles
from .iiif_tiles import TiledPicture

# A model crops the shorter side; asking for a box twice that size keeps the shorter side large
# enough for pictures up to 2:1 while staying far below the original.
BOX_FACTOR = 2
# Larger than any real picture (the biggest scans are ~10^5 px a side): beyond it a number is junk.
MAX_DIMENSION = 1_000_000

_LEVEL = re.compile(r"level\s*([012])|compliance\.html#level([012])|/level([012])")


def service_base(url: str) -> str:
    """The service base of a base URL or an info.json URL (no ``/info.json``, no trailing ``/``)."""
    base = url.strip()
    if base.endswith("/info.json"):
        base = base[: -len("/info.json")]
    return base.rstrip("/")


def info_url(ref_or_base: ImageRef | str) -> str:
    base = ref_or_base.location if isinstance(ref_or_base, ImageRef) else ref_or_base
    return f"{service_base(base)}/info.json"


def image_url(ref: ImageRef, min_side: int) -> str:
    """The URL of a picture whose shorter side is ``min_side``, or as near as the service allows.

    Listed sizes (level 0) win; a known picture size gives ``w,``, which every version serves from
    level 1 on (``!w,h`` needs level 2); with neither, a ``BOX_FACTOR`` box is the best guess.
    """
    base = service_base(ref.location)
    if ref.sizes:
        width, height = pick_size(ref.sizes, min_side)
        size = f"{width},{height}" if ref.api_version == "3" else f"{width},"
    elif ref.width and ref.height:
        size = f"{target_width(ref.width, ref.height, min_side)},"
    else:
        box = min_side * BOX_FACTOR
        size = f"!{box},{box}"
    return f"{base}/full/{size}/0/{_quality(ref)}.jpg"


def target_width(width: int, height: int, min_side: int) -> int:
    """The width at which a ``width``×``height`` picture's shorter side reaches ``min_side``,
    never wider than ``width`` (asking for more would upscale, or be refused by Image API 3)."""
    return max(1, min(width, math.ceil(min_side * width / min(width, height))))


def full_image_url(ref: ImageRef) -> str:
    """The one size every level-0 server must serve: the whole picture."""
    size = "max" if ref.api_version == "3" else "full"
    return f"{service_base(ref.location)}/full/{size}/0/{_quality(ref)}.jpg"


def request_after_info(info: Any, base: str, min_side: int) -> str | TiledPicture:
    """What to ask for once ``info.json`` is known, at ``base`` (kept: an info.json behind a
    proxy often names an internal host). A level-0 service that lists no size large enough is
    read as tiles; only one with neither sizes nor a usable tiling gets the whole picture, the one
    size such a server must serve."""
    described = replace(ref_from_info(info, fallback_url=base), location=service_base(base))
    if compliance_level(info) != 0:
        return image_url(described, min_side)
    if described.sizes and min(pick_size(described.sizes, min_side)) >= min_side:
        return image_url(described, min_side)
    tiled = _tiled(described, info, min_side)
    if tiled is not None:
        return tiled
    return image_url(described, min_side) if described.sizes else full_image_url(described)


def _tiled(ref: ImageRef, info: dict[str, Any], min_side: int) -> TiledPicture | None:
    width, height = _dimension(info.get("width")), _dimension(info.get("height"))
    tiling = iiif_tiles.read_tiling(info, _dimension)
    if width is None or height is None or tiling is None:
        return None

    def url_of(region: str, size: tuple[int, int]) -> str:
        written = f"{size[0]},{size[1]}" if ref.api_version == "3" else f"{size[0]},"
        return f"{ref.location}/{region}/{written}/0/{_quality(ref)}.jpg"

    return iiif_tiles.plan((width, height), tiling, min_side, url_of)


def pick_size(sizes: tuple[tuple[int, int], ...], min_side: int) -> tuple[int, int]:
    """The smallest advertised size whose shorter side is ≥ ``min_side``, else the largest."""
    ordered = sorted(sizes, key=lambda wh: wh[0] * wh[1])
    for width, height in ordered:
        if min(width, height) >= min_side:
            return width, height
    return ordered[-1]


def ref_from_info(info: Any, fallback_url: str | None = None) -> ImageRef:
    """Read an info.json document (Image API 1.1, 2 or 3) into an ``ImageRef``.

    ``sizes`` are kept only for level-0 services: level 1+ can scale to any size we ask. The
    picture's size is cut down to the server's ``maxWidth``/``maxHeight``/``maxArea``, so any
    request up to it is one the server accepts.
    """
    if not isinstance(info, dict):
        raise SourceError("info.json is not a JSON object")
    base = info.get("id") or info.get("@id") or fallback_url
    if not isinstance(base, str) or not base:
        raise SourceError("info.json has no id/@id and no URL to fall back on")
    level = compliance_level(info)
    sizes = read_sizes(info.get("sizes")) if level == 0 else ()
    width, height = servable_size(info)
    return ImageRef("iiif", service_base(base), api_version=api_version(info), sizes=sizes,
                    width=width, height=height)


def servable_size(info: dict[str, Any]) -> tuple[int | None, int | None]:
    """The picture's ``width``×``height`` scaled down into the server's size limits, or
    ``(None, None)`` when the document gives no usable size."""
    width, height = _dimension(info.get("width")), _dimension(info.get("height"))
    if width is None or height is None:
        return None, None
    limits = _limits(info)
    max_width = limits.get("maxWidth")
    max_height = limits.get("maxHeight") or max_width  # both specs: maxHeight defaults to maxWidth
    scale = 1.0
    if max_width:
        scale = min(scale, max_width / width)
    if max_height:
        scale = min(scale, max_height / height)
    if limits.get("maxArea"):
        scale = min(scale, math.sqrt(limits["maxArea"] / (width * height)))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def _limits(info: dict[str, Any]) -> dict[str, int]:
    """``maxWidth``/``maxHeight``/``maxArea``: top level in 3, inside the profile list in 2."""
    places = [info, *(entry for entry in as_profile_list(info.get("profile")) if isinstance(entry, dict))]
    limits: dict[str, int] = {}
    for place in places:
        for name in ("maxWidth", "maxHeight", "maxArea"):
            value = _dimension(place.get(name), MAX_DIMENSION**2 if name == "maxArea" else MAX_DIMENSION)
            if value is not None:
                limits.setdefault(name, value)
    return limits


def _dimension(value: Any, largest: int = MAX_DIMENSION) -> int | None:
    """A positive pixel count, or None for anything else (strings, bools, -1, absurd sizes)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= largest:
        return None
    return value


def as_profile_list(profile: Any) -> list[Any]:
    return profile if isinstance(profile, list) else [profile]


def api_version(info: dict[str, Any]) -> str:
    """"1.1", "2" or "3" from ``@context``, ``type`` or the profile; "2" when nothing says."""
    contexts = info.get("@context")
    context_list = contexts if isinstance(contexts, list) else [contexts]
    text = " ".join(str(c) for c in context_list if c)
    if "/image/3/" in text or info.get("type") == "ImageService3":
        return "3"
    if "/image/2/" in text or info.get("@type") == "iiif:ImageProfile":
        return "2"
    if "image-api/1" in text or "/image/1/" in text:
        return "1.1"
    return "2"


def compliance_level(info: dict[str, Any]) -> int | None:
    """The compliance level (0, 1, 2) named by ``profile``, or None when absent/unknown."""
    for entry in as_profile_list(info.get("profile")):
        if isinstance(entry, str):
            match = _LEVEL.search(entry)
            if match:
                return int(next(group for group in match.groups() if group is not None))
    return None


def read_sizes(raw: Any) -> tuple[tuple[int, int], ...]:
    """The usable ``{width, height}`` entries of a ``sizes`` list (info.json or a service block)."""
    if not isinstance(raw, list):
        return ()
    sizes = []
    for entry in raw:
        if isinstance(entry, dict):
            width, height = _dimension(entry.get("width")), _dimension(entry.get("height"))
            if width is not None and height is not None:
                sizes.append((width, height))
    return tuple(sizes)


def _quality(ref: ImageRef) -> str:
    return "native" if ref.api_version in ("1", "1.0", "1.1") else "default"
