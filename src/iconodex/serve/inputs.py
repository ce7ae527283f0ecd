"""Pictures given by clients (an upload or a URL), checked before any pixel is decoded."""

from __future__ import annotations

import io

from fastapi import UploadFile
from PIL import Image

from ..errors import DecodeError
from ..fetch.decode import decode_image, describe_non_image, sniff_is_image
from .errors import ApiError
from .state import ServerState

QUERY_SIDE = 448  # decoded a little above any model's input size; the model resizes the rest


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The uploaded bytes, refusing more than ``max_bytes`` (413) without reading further."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, f"the uploaded picture is larger than {max_bytes} bytes")
    if not data:
        raise ApiError(400, "the uploaded file is empty")
    return data


def picture_from_bytes(data: bytes, max_pixels: int) -> Image.Image:
    """Decode a client's picture; 413 when it has too many pixels (checked from the header)."""
    if not sniff_is_image(data):
        raise DecodeError(f"the query picture is {describe_non_image(data)}")
    try:
        width, height = Image.open(io.BytesIO(data)).size
    except Exception:  # Pillow raises many kinds for broken headers; decode_image names the reason
        width = height = 0
    if width * height > max_pixels:
        raise ApiError(413, f"the picture has {width}×{height} pixels; the limit is {max_pixels}")
    return decode_image(data, QUERY_SIDE, max_pixels=max_pixels)


def picture_from_url(state: ServerState, url: str) -> Image.Image:
    """Fetch a client-given URL through the SSRF guard (blocking: call it in a worker thread)."""
    if len(url) > 2048:
        raise ApiError(400, "the image URL is longer than 2048 characters")
    return picture_from_bytes(state.fetcher.fetch(url), state.settings.max_pixels)
