"""What clients send: pictures (an upload or a URL), checked before any pixel is decoded, and JSON bodies."""

from __future__ import annotations

import io
import json
from typing import TypeVar

from fastapi import Request, UploadFile
from PIL import Image
from pydantic import BaseModel, ValidationError

from ..errors import DecodeError
from ..fetch.decode import decode_image, describe_non_image, sniff_is_image
from .errors import ApiError
from .state import ServerState

QUERY_SIDE = 448  # decoded a little above any model's input size; the model resizes the rest
Body = TypeVar("Body", bound=BaseModel)


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The uploaded bytes, refusing more than ``max_bytes`` (413) without reading further."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, f"the uploaded picture is larger than {max_bytes} bytes")
    if not data:
        raise ApiError(400, "the uploaded file is empty")
    return data


def is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


async def read_json_object(request: Request, model: type[Body]) -> Body:
    """The request's JSON object as ``model``; anything else is a 400 that says what is wrong.
    (The body's size is capped before this by the server's body limit.)"""
    try:
        data = json.loads(await request.body())
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"the request body is not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not valid JSON (not UTF-8 text)") from None
    except RecursionError:
        raise ApiError(400, "the request body is not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ApiError(400, 'the request body must be a JSON object, such as {"q": "a cat"}')
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(400, f"{where}: {first['msg']}") from None


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
