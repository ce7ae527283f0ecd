"""IIIF level-0 pictures from tiles: when a static server lists no size near what a model needs,
its tiles at one scale factor, put side by side, are that picture at a fraction of the original.

A level-0 server answers only the whole picture, the sizes it lists and its tiles. Image API 1.1
has no ``sizes`` at all, so for a 1.1 static site the tiles are the only way short of the original.
The scale is the coarsest whose picture still has a shorter side ≥ the model's; the number of
tiles is bounded (a degenerate tiling asks for the whole picture instead).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ..errors import DecodeError
from .decode import decode_image

MAX_TILES = 64  # at the chosen scale a picture spans a few tiles; more means a degenerate tiling
_LARGEST_FACTOR = 1 << 16


@dataclass(frozen=True, slots=True)
class Tile:
    url: str
    position: tuple[int, int]  # top-left corner in the assembled picture
    size: tuple[int, int]  # its size there


@dataclass(frozen=True, slots=True)
class TiledPicture:
    size: tuple[int, int]
    tiles: tuple[Tile, ...]


@dataclass(frozen=True, slots=True)
class Tiling:
    width: int  # tile width and height, in pixels at the tile's own scale
    height: int
    scale_factors: tuple[int, ...]


def read_tiling(info: dict[str, Any], read_dimension: Callable[[Any], int | None]) -> Tiling | None:
    """The first tiling of an info.json: ``tiles`` (2, 3) or ``tile_width``/``scale_factors`` (1.1)."""
    tiles = info.get("tiles")
    if isinstance(tiles, list) and tiles and isinstance(tiles[0], dict):
        entry = tiles[0]
        width, height, factors = entry.get("width"), entry.get("height", entry.get("width")), entry.get("scaleFactors")
    else:
        width, height = info.get("tile_width"), info.get("tile_height", info.get("tile_width"))
        factors = info.get("scale_factors")
    width, height = read_dimension(width), read_dimension(height)
    scales = tuple(sorted({f for f in factors if _is_factor(f)})) if isinstance(factors, list) else ()
    if width is None or height is None or not scales:
        return None
    return Tiling(width, height, scales)


def plan(picture: tuple[int, int], tiling: Tiling, min_side: int,
         url_of: Callable[[str, tuple[int, int]], str]) -> TiledPicture | None:
    """The tiles of ``picture`` (full size) at the coarsest scale that keeps ``min_side``;
    ``url_of(region, size)`` writes one tile request. None when it would take too many tiles."""
    width, height = picture
    usable = [s for s in tiling.scale_factors if min(width, height) / s >= min_side]
    scale = max(usable) if usable else min(tiling.scale_factors)
    step_x, step_y = tiling.width * scale, tiling.height * scale
    if math.ceil(width / step_x) * math.ceil(height / step_y) > MAX_TILES:
        return None
    tiles = []
    for top in range(0, height, step_y):
        for left in range(0, width, step_x):
            region_w, region_h = min(step_x, width - left), min(step_y, height - top)
            whole = region_w == width and region_h == height
            region = "full" if whole else f"{left},{top},{region_w},{region_h}"
            size = (math.ceil(region_w / scale), math.ceil(region_h / scale))
            tiles.append(Tile(url_of(region, size), (left // scale, top // scale), size))
    return TiledPicture((math.ceil(width / scale), math.ceil(height / scale)), tuple(tiles))


def assemble(picture: TiledPicture, get: Callable[[str], bytes]) -> bytes:
    """Fetch every tile with ``get`` and put them in place; the result as PNG bytes (lossless,
    so the picture is decoded exactly as the tiles were)."""
    canvas = Image.new("RGB", picture.size)
    for tile in picture.tiles:
        expected = tile.size[0] * tile.size[1]
        try:
            image = decode_image(get(tile.url), max(tile.size) + 1, max_pixels=4 * expected + 1024)
        except DecodeError as exc:
            raise DecodeError(f"{tile.url}: {exc}") from None
        if image.size != tile.size:  # servers round edge tiles differently
            image = image.resize(tile.size)
        canvas.paste(image, tile.position)
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _is_factor(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _LARGEST_FACTOR
