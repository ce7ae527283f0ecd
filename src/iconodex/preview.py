"""A self-contained HTML page of neighbours (or duplicate groups): one row per reference with
its neighbours' thumbnails and scores, as ONiT's ``generate_html_preview.py`` makes.

Local pictures are inlined as small base64 JPEG thumbnails, so the page opens offline; remote
ones are linked as IIIF thumbnail requests (a few KB each), or inlined too with ``embed=True``.
A picture that cannot be read shows a placeholder; it never stops the page.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from PIL import Image

from .errors import IconodexError, SourceError
from .fetch.iiif_image import image_url as iiif_request
from .formats.rows import image_ref

log = logging.getLogger(__name__)
THUMB = 192  # pixels, the longer side of an inlined thumbnail
JPEG_QUALITY = 80


class Thumbnails:
    """Turns an item payload into an ``<img src>``: a data URI or a (IIIF thumbnail) URL."""

    def __init__(self, *, embed: bool = False, http: Any = None) -> None:
        self.embed = embed
        self._http = http
        self._seen: dict[str, str | None] = {}

    def src(self, payload: dict[str, Any]) -> str | None:
        location = payload.get("local_url") or payload.get("iiif_url") or payload.get("image") or ""
        if location not in self._seen:
            self._seen[location] = self._resolve(location)
        return self._seen[location]

    def _resolve(self, location: str) -> str | None:
        ref = image_ref(location)
        if ref is None:
            return None
        try:
            if ref.kind == "path":
                return data_uri(Path(ref.location).read_bytes())
            url = iiif_request(ref, THUMB // 2) if ref.kind == "iiif" else ref.location
            return data_uri(self.http.get_bytes(url)) if self.embed else url
        except (OSError, IconodexError, Image.DecompressionBombError) as exc:
            log.warning("preview: no thumbnail for %s: %s", location, exc)
            return None

    @property
    def http(self):
        if self._http is None:
            from .fetch.http import HttpClient

            self._http = HttpClient()
        return self._http


def data_uri(data: bytes) -> str:
    """A small JPEG thumbnail of ``data`` as a data: URI; OSError when it is not a picture."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (THUMB, THUMB))  # JPEG: decode at reduced size directly
        thumb = image.convert("RGB")
        thumb.thumbnail((THUMB, THUMB))
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def render(entries: Iterable[dict[str, Any]], *, title: str = "Neighbours", embed: bool = False,
           thumbnails: Thumbnails | None = None) -> str:
    """The page for ``{"reference", "neighbours"}`` entries (the neighbours.json shape)."""
    thumbnails = thumbnails or Thumbnails(embed=embed)
    rows = [_row(entry, thumbnails) for entry in entries]
    template = Template(resources.files(__package__).joinpath("formats/templates/preview.html").read_text())
    return template.substitute(title=html.escape(title), rows="\n".join(rows),
                               summary=f"{len(rows)} reference picture(s) and their nearest neighbours")


def _row(entry: dict[str, Any], thumbnails: Thumbnails) -> str:
    reference = _figure(entry.get("reference") or {}, thumbnails, "reference")
    neighbours = "".join(_figure(n, thumbnails, "neighbour") for n in entry.get("neighbours") or [])
    return f'<section class="row">{reference}<div class="neighbours">{neighbours}</div></section>'


def _figure(payload: dict[str, Any], thumbnails: Thumbnails, kind: str) -> str:
    label = html.escape(str(payload.get("title") or payload.get("id") or ""))
    src = thumbnails.src(payload)
    picture = (f'<img src="{html.escape(src)}" alt="{label}" loading="lazy">' if src
               else '<div class="missing">no picture</div>')
    score = payload.get("score")
    score_html = f'<span class="score">{float(score):.3f}</span> ' if score is not None else ""
    caption = f'{score_html}{label}' if kind == "neighbour" else f"<strong>{label}</strong>"
    return f'<figure class="{kind}" title="{html.escape(str(payload.get("id", "")))}">{picture}<figcaption>{caption}</figcaption></figure>'


def load_entries(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Read a neighbours.json (ONiT's shape); a one-line error when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"cannot read {path} as neighbours JSON: {exc}") from None
    if not isinstance(data, list) or not all(isinstance(e, dict) and "reference" in e for e in data):
        raise SourceError(f"{path} is not a neighbours file: expected a JSON array of "
                          f'{{"reference": …, "neighbours": […]}} objects')
    return data[:limit] if limit else data


def write_preview(src: Path, dest: Path, *, embed: bool = False, limit: int | None = None,
                  title: str | None = None) -> int:
    """Render ``src`` (neighbours.json) to ``dest``; returns the number of rows."""
    entries = load_entries(src, limit)
    Path(dest).write_text(render(entries, title=title or Path(src).name, embed=embed), encoding="utf-8")
    return len(entries)
