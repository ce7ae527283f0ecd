"""Thumbnail atlases for the map page: every mapped picture as a CELL-pixel square, PER_ATLAS of
them in one JPEG, so a browser draws 100k pictures from a few dozen images rather than 100k
requests. Built by ``iconodex map`` and cached in the collection (table ``map_atlases``); a re-run
rebuilds only the atlases whose cells changed, reusing the thumbnails already drawn."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from .errors import IconodexError, NotFoundError
from .fetch.iiif_image import image_url as iiif_request

if TYPE_CHECKING:
    from .collection import Collection
    from .store import Item, ItemStore

log = logging.getLogger(__name__)
CELL = 32  # pixels per picture
SIDE = 2048  # pixels per atlas side
ROW = SIDE // CELL
PER_ATLAS = ROW * ROW
EMPTY = (200, 200, 200)  # a picture that cannot be had


Cell = tuple[int, "str | None"]  # (item key, the picture it shows: map_points.picture)


def mapped_cells(store: ItemStore) -> list[Cell]:
    """The mapped items in cell order (key order: a later ingest's items go at the end)."""
    return [(int(key), picture) for key, picture in store.conn.execute("SELECT key, picture FROM map_points ORDER BY key")]


def _stored_cells(text: str) -> list[Cell]:
    """An atlas's cells as stored; a bare key (atlases drawn before pictures were recorded) shows
    the picture the map point was made from."""
    return [(cell, None) if isinstance(cell, int) else (int(cell[0]), cell[1]) for cell in json.loads(text)]


def build_atlases(coll: Collection) -> int:
    """Bring the atlases in line with the map; returns how many were (re)drawn."""
    store = coll.store
    wanted_cells = mapped_cells(store)
    stored = {row[0]: _stored_cells(row[1]) for row in store.conn.execute("SELECT atlas, cells FROM map_atlases")}
    old_cells = {cell: (atlas, i) for atlas, cells in stored.items() for i, cell in enumerate(cells)}
    drawn = 0
    wanted = (len(wanted_cells) + PER_ATLAS - 1) // PER_ATLAS
    for atlas in range(wanted):
        cells = wanted_cells[atlas * PER_ATLAS:(atlas + 1) * PER_ATLAS]
        if stored.get(atlas) == cells:
            continue
        jpeg = _draw(coll, cells, old_cells)
        with store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO map_atlases (atlas, jpeg, cells) VALUES (?, ?, ?)",
                         (atlas, jpeg, json.dumps(cells)))
        drawn += 1
    with store.transaction() as conn:
        conn.execute("DELETE FROM map_atlases WHERE atlas >= ?", (wanted,))
    return drawn


def atlas_jpeg(store: ItemStore, atlas: int) -> bytes:
    try:
        row = store.conn.execute("SELECT jpeg FROM map_atlases WHERE atlas = ?", (atlas,)).fetchone()
    except sqlite3.OperationalError:  # a store from before the map, opened read-only
        row = None
    if row is None:
        raise NotFoundError(f"no map atlas {atlas}; run `iconodex map -c …`")
    return bytes(row[0])


def atlas_count(store: ItemStore) -> int:
    return int(store.conn.execute("SELECT count(*) FROM map_atlases").fetchone()[0])


def _draw(coll: Collection, cells: list[Cell], old_cells: dict[Cell, tuple[int, int]]) -> bytes:
    """A sheet of ``cells``; a thumbnail of the same picture already on a sheet is copied from it."""
    sheet = Image.new("RGB", (SIDE, SIDE), EMPTY)
    items = coll.store.get_many([key for key, _ in cells])
    old_sheets: dict[int, Image.Image] = {}
    for i, (key, picture) in enumerate(cells):
        drawn_before = old_cells.get((key, picture)) or old_cells.get((key, None))
        if drawn_before is not None:
            atlas, cell = drawn_before
            if atlas not in old_sheets:
                old_sheets[atlas] = Image.open(io.BytesIO(atlas_jpeg(coll.store, atlas))).convert("RGB")
            thumb = old_sheets[atlas].crop(_box(cell))
        else:
            thumb = _thumbnail(coll, items[key]) if key in items else None
        if thumb is not None:
            sheet.paste(thumb, _box(i)[:2])
    out = io.BytesIO()
    sheet.save(out, "JPEG", quality=80, optimize=True)
    return out.getvalue()


def _box(cell: int) -> tuple[int, int, int, int]:
    x, y = (cell % ROW) * CELL, (cell // ROW) * CELL
    return x, y, x + CELL, y + CELL


def _thumbnail(coll: Collection, item: Item) -> Image.Image | None:
    """The item's picture cropped to a CELL square; None (a grey cell) when it cannot be had."""
    ref = item.image
    try:
        if ref is None:
            return None
        if ref.kind == "path":
            picture = Image.open(ref.location)
        else:
            url = iiif_request(ref, CELL * 2) if ref.kind == "iiif" else item.links.get("thumbnail") or ref.location
            picture = Image.open(io.BytesIO(coll.http.get_bytes(url)))
        with picture:
            picture.draft("RGB", (CELL * 2, CELL * 2))
            return ImageOps.fit(ImageOps.exif_transpose(picture).convert("RGB"), (CELL, CELL))
    except (OSError, IconodexError, Image.DecompressionBombError) as exc:
        log.warning("map: no thumbnail for %s: %s", item.id, exc)
        return None
