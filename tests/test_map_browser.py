"""The /map page in headless Chromium (playwright-core from npm), against a real server on the
shared collection mapped by the real `iconodex map` code. Needs what test_serve_browser needs."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest
from _serve_fixtures import item_id, serve, shared_collection
from test_map import CATEGORIES, add_items
from test_serve_browser import BROWSER_DIR, CHROMIUM, _missing

from iconodex import Collection
from iconodex.map import build_map
from iconodex.map_atlas import build_atlases
from iconodex.map_page import write_offline_map

pytestmark = pytest.mark.browser


def _drive(url: str, out, target: str, items: int) -> dict:
    done = subprocess.run(["node", str(BROWSER_DIR / "map_page.mjs"), url, str(out), target],
                          capture_output=True, text=True, timeout=180, cwd=BROWSER_DIR,
                          env={**os.environ, "CHROMIUM": CHROMIUM})
    assert done.returncode == 0, done.stderr[-3000:]
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "target": target, "items": items}


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


def test_a_search_highlights_its_results_and_a_selection_exports_their_ids(map_run):
    assert map_run["highlighted"][0] == map_run["target"]  # offline: the titles with every word
    assert "on the map for “a cat”" in map_run["status"]
    assert map_run["selected"] == 8
    assert {row["id"] for row in map_run["exported"]} >= {map_run["target"]}
    assert len(map_run["exported"]) == 8
    assert map_run["exportedCsv"][0] == "id,title" and len(map_run["exportedCsv"]) == 9
    assert f'"{map_run["target"]}","Chelsea the cat"' in map_run["exportedCsv"]


def test_cluster_names_show_at_a_readable_zoom_only(tmp_path_factory):
    if _missing():
        pytest.skip(_missing())
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((len(CATEGORIES), 64))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    with Collection.create(tmp_path_factory.mktemp("labels") / "c") as coll:
        add_items(coll, np.repeat(np.arange(len(CATEGORIES)), 40), 0, rng, centres)
        build_map(coll)
        build_atlases(coll)
        with serve(coll) as running:
            done = subprocess.run(["node", str(BROWSER_DIR / "map_labels.mjs"), running.base], capture_output=True,
                                  text=True, timeout=120, cwd=BROWSER_DIR, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(seen["names"]) >= len(CATEGORIES) - 1 and not seen["console"]
    assert sorted(seen["fitted"]) == sorted(seen["names"])  # the whole map: every cluster named
    assert seen["zoomedOut"] == []  # too small to read
    assert seen["names"][0] not in seen["zoomedIn"]  # inside a cluster: its name would cover it
