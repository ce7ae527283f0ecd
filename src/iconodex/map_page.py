"""``iconodex map --html``: the map page as one file that opens from disk, like ``iconodex preview``.
The points, clusters and thumbnail atlases are inlined (atlases as data: URIs), as are map.js and
map.css; without a server, its search filters titles, "similar" means nearest on the map, and the item
panel shows the links the catalogue gave (page, manifest, IIIF viewers)."""

from __future__ import annotations

import base64
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .map import map_clusters, map_points
from .map_atlas import CELL, PER_ATLAS, ROW, atlas_count, atlas_jpeg
from .serve.views import viewer_links

if TYPE_CHECKING:
    from .collection import Collection
    from .store import ItemStore

STATIC = resources.files("iconodex.serve").joinpath("static")


def offline_map_html(coll: Collection) -> str:
    store = coll.store
    rows = map_points(store)
    sources = ["data:image/jpeg;base64," + base64.b64encode(atlas_jpeg(store, i)).decode("ascii")
               for i in range(atlas_count(store))]
    data = {"ids": [r["id"] for r in rows], "titles": [r["title"] for r in rows], "x": [r["x"] for r in rows],
            "y": [r["y"] for r in rows], "cluster": [r["cluster"] for r in rows], "clusters": map_clusters(store),
            "links": _links(store),
            "atlas": {"count": len(sources), "cell": CELL, "row": ROW, "per_atlas": PER_ATLAS, "sources": sources}}
    page = STATIC.joinpath("map.html").read_text(encoding="utf-8")
    style = STATIC.joinpath("map.css").read_text(encoding="utf-8")
    script = STATIC.joinpath("map.js").read_text(encoding="utf-8")
    page = page.replace('<link rel="stylesheet" href="/static/map.css">', f"<style>\n{style}</style>")
    page = page.replace('<script src="/static/map.js" defer></script>\n', "")
    payload = json.dumps(data).replace("<", "\\u003c")  # no title can end the element or open a comment in it
    inline = (f'<script type="application/json" id="map-data">{payload}</script>\n'
              f"<script>\n{_script_safe(script)}</script>\n</body>")
    return page.replace("</body>", inline)


def _links(store: ItemStore) -> list[dict[str, str]]:
    """Each mapped item's web links and IIIF viewers, in map order: what the served panel shows."""
    rows = store.conn.execute("SELECT i.links FROM map_points p JOIN items i ON i.key = p.key ORDER BY p.key")
    shown = []
    for (text,) in rows:
        links = {name: href for name, href in json.loads(text or "{}").items()
                 if isinstance(href, str) and href.startswith(("http://", "https://"))}
        shown.append({**links, **viewer_links(links)})
    return shown


def _script_safe(text: str) -> str:
    """Text that cannot close the <script> element it sits in."""
    return text.replace("</", "<\\/")


def write_offline_map(coll: Collection, dest: Path) -> None:
    Path(dest).write_text(offline_map_html(coll), encoding="utf-8")
