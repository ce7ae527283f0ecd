"""The /map page in headless Chromium (playwright-core from npm), against a real server on the
shared collection mapped by the real `iconodex map` code. Needs what test_serve_browser needs."""

from __future__ import annotations

import json
import os
import subprocess
from urllib.parse import quote

import numpy as np
import pytest
from _serve_fixtures import SKIMAGE_DATA, item_id, serve, shared_collection
from test_map import CATEGORIES, add_items, item_links
from test_serve_browser import BROWSER_DIR, CHROMIUM, _missing

from iconodex import Collection
from iconodex.map import build_map
from iconodex.map_atlas import build_atlases
from iconodex.map_page import write_offline_map

pytestmark = pytest.mark.browser


def _drive(url: str, out, target: str, items: int) -> dict:
    done = subprocess.run(["node", str(BROWSER_DIR / "map_page.mjs"), url, str(out), target,
                           str(SKIMAGE_DATA / "chelsea.png")],
                          capture_output=True, text=True, timeout=180, cwd=BROWSER_DIR,
                          env={**os.environ, "CHROMIUM": CHROMIUM})
    assert done.returncode == 0, done.stderr[-3000:]
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "target": target, "items": items,
            "offline": url.startswith("file:")}


@pytest.fixture(scope="module")
def mapped():
    reason = _missing()
    if reason:
        pytest.skip(reason)
    coll = shared_collection()
    build_map(coll)
    build_atlases(coll)
    return coll


@pytest.fixture(scope="module", params=["served", "offline"])
def map_run(request, mapped, tmp_path_factory) -> dict:
    """The page as the server serves it, and as `iconodex map --html` writes it (opened from disk)."""
    out = tmp_path_factory.mktemp(f"map-{request.param}")
    target = item_id(mapped, "chelsea.png")
    if request.param == "offline":
        write_offline_map(mapped, out / "map.html")
        return _drive((out / "map.html").as_uri(), out, target, mapped.indexed_count())
    with serve(mapped) as running:
        return _drive(running.base, out, target, mapped.indexed_count())


def test_map_draws_every_item_without_script_or_policy_errors(map_run):
    assert map_run["n"] == map_run["drawn"] == map_run["items"] == 8
    assert map_run["modeAtStart"] in ("points", "thumbnails")
    assert not map_run["console"], map_run["console"]


def test_zooming_in_draws_thumbnails_and_a_click_opens_that_item(map_run):
    assert map_run["modeZoomed"] == "thumbnails"
    assert map_run["tip"] == "Chelsea the cat"
    assert map_run["panel"]["id"] == map_run["target"] and map_run["panel"]["title"] == "Chelsea the cat"
    assert map_run["panel"]["similar"] and map_run["target"] not in map_run["panel"]["similar"]


def _flew_to(landing: dict) -> bool:
    """After the flight the view shows every highlighted item."""
    return landing["of"] > 0 and landing["shown"] == landing["of"]


def test_a_text_search_highlights_its_results_and_flies_to_them(map_run):
    assert map_run["highlighted"][0] == map_run["target"]  # offline: the titles with every word
    assert "on the map for “a cat”" in map_run["status"]
    assert map_run["textBefore"] == 0  # the view was elsewhere, close in
    assert _flew_to(map_run["textLanding"]), map_run["textLanding"]


def test_a_picture_search_highlights_that_picture_and_flies_to_it(map_run):
    if map_run["offline"]:  # no model in a page opened from disk: no control that cannot work
        assert not map_run["pictureControl"]
        return
    assert map_run["pictureControl"]
    assert map_run["pictureHighlighted"][0] == map_run["target"]
    assert "on the map for your picture" in map_run["pictureStatus"]
    assert map_run["pictureBefore"] == 0
    assert _flew_to(map_run["pictureLanding"]), map_run["pictureLanding"]


def test_a_lasso_selects_what_it_encloses_and_exports_their_ids(map_run):
    expected = map_run["lassoExpected"]
    assert 0 < len(expected) < map_run["lassoBox"]  # the outline matters, not its bounding box
    assert map_run["lassoSelected"] == expected
    assert sorted(row["id"] for row in map_run["exported"]) == expected
    assert map_run["exportedCsv"][0] == "id,title" and len(map_run["exportedCsv"]) == len(expected) + 1
    assert all(f'"{item}",' in "\n".join(map_run["exportedCsv"]) for item in expected)


@pytest.fixture(scope="module")
def labelled_map(tmp_path_factory) -> Collection:
    """Six named categories of items that link to their catalogue page and IIIF manifest."""
    if _missing():
        pytest.skip(_missing())
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((len(CATEGORIES), 64))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    coll = Collection.create(tmp_path_factory.mktemp("labels") / "c")
    add_items(coll, np.repeat(np.arange(len(CATEGORIES)), 40), 0, rng, centres, links=True)
    build_map(coll)
    build_atlases(coll)
    yield coll
    coll.close()


def _node(script: str, *args: str) -> dict:
    done = subprocess.run(["node", str(BROWSER_DIR / script), *args], capture_output=True, text=True, timeout=120,
                          cwd=BROWSER_DIR, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_cluster_names_show_at_a_readable_zoom_only(labelled_map):
    with serve(labelled_map) as running:
        seen = _node("map_labels.mjs", running.base)
    assert len(seen["names"]) >= len(CATEGORIES) - 1 and not seen["console"]
    assert sorted(seen["fitted"]) == sorted(seen["names"])  # the whole map: every cluster named
    assert seen["zoomedOut"] == []  # too small to read
    assert seen["names"][0] not in seen["zoomedIn"]  # inside a cluster: its name would cover it


@pytest.mark.parametrize("where", ["served", "offline"])
def test_the_item_panel_links_to_the_catalogue_page_and_iiif_viewers(labelled_map, where, tmp_path):
    if where == "offline":
        write_offline_map(labelled_map, tmp_path / "map.html")
        seen = _node("map_panel.mjs", (tmp_path / "map.html").as_uri(), "item-42")
    else:
        with serve(labelled_map) as running:
            seen = _node("map_panel.mjs", running.base, "item-42")
    assert seen["panelId"] == "item-42" and not seen["console"], seen
    links = dict(seen["links"])
    assert links["page"] == item_links("item-42")["page"]
    manifest = quote(item_links("item-42")["manifest"], safe="")
    assert links["mirador"].endswith(f"iiif-content={manifest}") and manifest in links["universal_viewer"]
