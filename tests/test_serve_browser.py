"""The search page in headless Chromium (playwright-core from npm), against a real server.

Needs /usr/bin/chromium (apt-get install chromium), node, and
``npm install --prefix tests/browser`` (playwright-core, pinned in tests/browser/package.json).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _serve_fixtures import SKIMAGE_DATA, serve, shared_collection
from PIL import Image

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"chromium is absent ({CHROMIUM}; apt-get install chromium)"
    if shutil.which("node") is None:
        return "node is absent"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (npm install --prefix tests/browser)"
    return None


@pytest.fixture(scope="module")
def page_run(tmp_path_factory) -> tuple[dict, Path]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("screenshots")
    with serve(shared_collection()) as running:
        done = subprocess.run(
            ["node", str(BROWSER_DIR / "search_page.mjs"), running.base, str(out), str(SKIMAGE_DATA / "chelsea.png")],
            capture_output=True, text=True, timeout=180, cwd=BROWSER_DIR, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"screenshots in {out}")
    return json.loads(done.stdout.strip().splitlines()[-1]), out


def test_typing_a_cat_shows_cards_whose_pictures_loaded(page_run):
    seen, _ = page_run
    assert seen["focusedAtStart"] == "q"
    cards = seen["cards"]
    assert cards[0]["id"] == "chelsea.png" and cards[0]["title"] == "Chelsea the cat"
    assert all(card["naturalWidth"] > 0 and card["loading"] == "lazy" and card["alt"] for card in cards)
    assert all(float(card["score"]) != 0 for card in cards)
    assert "for “a cat”" in seen["status"]
    assert not seen["console"], seen["console"]  # no script errors, no CSP violations


def test_details_open_by_keyboard_and_click_and_escape_closes(page_run):
    seen, _ = page_run
    assert seen["tabAfterQuery"] == "Search"
    assert seen["detail"]["title"] == "Chelsea the cat" and "animal" in seen["detail"]["metadata"]
    assert seen["focusAfterEscape"] == "chelsea.png"
    assert seen["clickedTitle"] == seen["cards"][-1]["title"]


def test_more_like_this_alpha_facets_and_picture_search(page_run):
    seen, _ = page_run
    assert seen["likeIds"] and "chelsea.png" not in seen["likeIds"]
    assert seen["alphaShown"] == "0.6"
    assert any("alpha=0.6" in url for url in seen["searches"])
    assert any("where=type%3Aanimal" in url for url in seen["searches"])
    assert seen["pictureTop"] == "chelsea.png"


def test_screenshot_has_content_where_results_render(page_run):
    seen, out = page_run
    box = seen["resultsBox"]
    shot = np.asarray(Image.open(out / "results.png").convert("L"), dtype=np.float32)
    region = shot[int(box["y"]):int(box["y"] + box["height"]), int(box["x"]):int(box["x"] + box["width"])]
    assert region.size and region.std() > 20  # photographs, not a blank panel
    assert len(np.unique(region.astype(np.uint8))) > 100
