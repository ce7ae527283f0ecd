"""IIIF Image API: ask a server for a picture at the size the model needs, never the original.

Versions differ in small ways that matter:
- 1.1 names the default quality ``native``; 2 and 3 call it ``default``;
- level-0 servers (often static files) only answer the sizes they advertise in ``info.json``,
  as ``w,`` in 1.1/2 (the canonical form there) and ``w,h`` in 3;
- an info.json names its service by ``@id`` (1.1, 2) or ``id`` (3), and its version by
  ``@context``, ``type`` or ``protocol``.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import SourceError
from ..records import ImageRef

# A model crops the shorter side; asking for a box twice that size keeps the shorter side large
# enough for pictures up to 2:1 while staying far below the original.
BOX_FACTOR = 2

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
    """The URL of a picture whose shorter side is about ``min_side`` (see ``BOX_FACTOR``)."""
    base = service_base(ref.location)
    if ref.sizes:
        width, height = pick_size(ref.sizes, min_side)
        size = f"{width},{height}" if ref.api_version == "3" else f"{width},"
    else:
        box = min_side * BOX_FACTOR
        size = f"!{box},{box}"
    return f"{base}/full/{size}/0/{_quality(ref)}.jpg"


def full_image_url(ref: ImageRef) -> str:
    """The one size every level-0 server must serve: the whole picture."""
    size = "max" if ref.api_version == "3" else "full"
    return f"{service_base(ref.location)}/full/{size}/0/{_quality(ref)}.jpg"


def pick_size(sizes: tuple[tuple[int, int], ...], min_side: int) -> tuple[int, int]:
    """The smallest advertised size whose shorter side is ≥ ``min_side``, else the largest."""
    ordered = sorted(sizes, key=lambda wh: wh[0] * wh[1])
    for width, height in ordered:
        if min(width, height) >= min_side:
            return width, height
    return ordered[-1]


def ref_from_info(info: Any, fallback_url: str | None = None) -> ImageRef:
    """Read an info.json document (Image API 1.1, 2 or 3) into an ``ImageRef``.

    ``sizes`` are kept only for level-0 services: level 1+ can scale to any size we ask.
    """
    if not isinstance(info, dict):
        raise SourceError("info.json is not a JSON object")
    base = info.get("id") or info.get("@id") or fallback_url
    if not isinstance(base, str) or not base:
        raise SourceError("info.json has no id/@id and no URL to fall back on")
    sizes = _sizes(info.get("sizes")) if compliance_level(info) == 0 else ()
    return ImageRef("iiif", service_base(base), api_version=api_version(info), sizes=sizes)


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
    profile = info.get("profile")
    candidates = profile if isinstance(profile, list) else [profile]
    for entry in candidates:
        if isinstance(entry, str):
            match = _LEVEL.search(entry)
            if match:
                return int(next(group for group in match.groups() if group is not None))
    return None


def _sizes(raw: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(raw, list):
        return ()
    sizes = []
    for entry in raw:
        if isinstance(entry, dict):
            width, height = entry.get("width"), entry.get("height")
            if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
                sizes.append((width, height))
    return tuple(sizes)


def _quality(ref: ImageRef) -> str:
    return "native" if ref.api_version in ("1", "1.0", "1.1") else "default"
