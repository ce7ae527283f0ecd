"""The /map page in headless Chromium (playwright-core from npm), against a real server on the
shared collection mapped by the real `iconodex map` code. Needs what test_serve_browser needs."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from _serve_fixtures import item_id, serve, shared_collection
from test_serve_browser import BROWSER_DIR, CHROMIUM, _missing

from iconodex.map import build_map
from iconodex.map_atlas import build_atlases

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def map_run(tmp_path_factory) -> dict:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    coll = shared_collection()
    build_map(coll)
    build_atlases(coll)
    target = item_id(coll, "chelsea.png")
    out = tmp_path_factory.mktemp("map-screens")
    with serve(coll) as running:
        done = subprocess.run(["node", str(BROWSER_DIR / "map_page.mjs"), running.base, str(out), target],
                              capture_output=True, text=True, timeout=180, cwd=BROWSER_DIR,
                              env={**os.environ, "CHROMIUM": CHROMIUM})
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    seen["target"] = target
    seen["items"] = coll.indexed_count()
    return seen


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
    assert map_run["highlighted"][0] == map_run["target"]
    assert "on the map for “a cat”" in map_run["status"]
    assert map_run["selected"] == 8
    assert {row["id"] for row in map_run["exported"]} >= {map_run["target"]}
    assert len(map_run["exported"]) == 8
