"""Small JPEG copies of local pictures for the search page's grid (originals may be huge TIFFs)."""

from __future__ import annotations

import io
import os
from functools import lru_cache

from PIL import Image, ImageOps

from ..errors import DecodeError, NotFoundError
from ..fetch.decode import describe_os_error

CACHED_THUMBNAILS = 512  # ~20 KB each


def local_thumbnail(path: str, side: int) -> bytes:
    """A JPEG whose longest side is at most ``side``; cached until the file changes."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise NotFoundError(f"the picture file is gone ({describe_os_error(exc)})") from None
    return _render(path, stat.st_mtime_ns, stat.st_size, side)


@lru_cache(maxsize=CACHED_THUMBNAILS)
def _render(path: str, _mtime_ns: int, _size: int, side: int) -> bytes:
    try:
        with Image.open(path) as img:
            img.draft("RGB", (side, side))  # JPEG: decode at a reduced scale directly
            picture = ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise DecodeError(f"the picture cannot be read ({type(exc).__name__})") from None
    picture.thumbnail((side, side))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()
