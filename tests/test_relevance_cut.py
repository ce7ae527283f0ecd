"""The default relevance cut: a text query for something the collection lacks says "no good match"
instead of listing the whole collection; --min-score / min_score override it, 0 turns it off."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from _serve_fixtures import serve, shared_collection
from test_cli import run
from test_serve_browser import BROWSER_DIR, CHROMIUM, _missing

from iconodex.models.catalog import RELEVANCE_CUTS, relevance_cut

ABSENT = "a castle on a hill"  # the demo's pictures hold no castle, hill or building
CUT = RELEVANCE_CUTS["offline"]


def test_the_offline_model_has_a_measured_cut_and_unmeasured_models_none():
    assert relevance_cut("offline") == CUT and 0.1 < CUT < 0.5
    assert relevance_cut("uform3-multilingual") is None and relevance_cut("/some/local/model") is None


def test_a_query_for_what_is_absent_returns_no_good_match(sample_collection):
    results = sample_collection.search(ABSENT, limit=20)
    assert list(results) == [] and results.no_good_match and results.min_score == CUT
    assert results.below_cut == 20


def test_a_cat_finds_chelsea_not_the_whole_collection(sample_collection):
    results = sample_collection.search("a cat", limit=20)
    assert results[0].id == "chelsea.png" and len(results) < 5
    assert all(result.score >= CUT for result in results) and not results.no_good_match


@pytest.mark.parametrize("query, wanted", [("a cat", "chelsea.png"), ("une tasse de café", "coffee.png"),
                                           ("Rakete", "rocket.jpg")])
def test_the_demo_queries_still_find_their_pictures(sample_collection, query, wanted):
    assert sample_collection.search(query, limit=3)[0].id == wanted


def test_min_score_zero_disables_the_cut_and_a_number_replaces_it(sample_collection):
    everything = sample_collection.search(ABSENT, limit=20, min_score=0)
    assert len(everything) == 20 and everything.min_score is None and not everything.no_good_match
    lower = sample_collection.search("a cat", limit=20, min_score=0.1)
    assert lower.min_score == 0.1 and len(lower) > len(sample_collection.search("a cat", limit=20))


def test_picture_and_like_queries_get_no_default_cut(sample_collection, sample_pictures):
    assert len(sample_collection.search(like="chelsea.png", limit=19)) == 19
    assert len(sample_collection.search(image=str(sample_pictures / "coffee.png"), limit=20)) == 20


def test_cli_says_no_good_match_and_min_score_zero_lists_the_closest(capsys, sample_collection):
    coll = str(sample_collection.path)
    code, out, _ = run(capsys, "search", "-c", coll, ABSENT)
    assert code == 0 and out.strip() == (f"no good match: nothing scored {CUT:g} or more "
                                         "(--min-score 0 lists the closest anyway)")
    _, out, _ = run(capsys, "search", "-c", coll, ABSENT, "--min-score", "0", "--limit", "20", "--format", "paths")
    assert len(out.splitlines()) == 20


@pytest.fixture(scope="module")
def server():
    with serve(shared_collection()) as running, running.client() as client:
        yield running, client


def test_search_json_says_no_good_match_and_the_cut(server):
    _, client = server
    page = client.get("/search", params={"q": ABSENT}).json()
    assert page["results"] == [] and page["no_good_match"] is True and page["min_score"] == CUT
    page = client.get("/search", params={"q": ABSENT, "min_score": 0}).json()
    assert page["results"] and page["no_good_match"] is False and page["min_score"] is None
    page = client.get("/search", params={"q": "a cat"}).json()
    assert page["results"][0]["id"] == "chelsea.png" and page["no_good_match"] is False


def test_sari_query_keeps_its_own_default(server):
    _, client = server
    answer = client.get("/query", params={"str": ABSENT, "minScore": 0.1, "limit": 3}).json()
    assert answer and all(0.1 <= hit["score"] < CUT for hit in answer)  # SARI's own minScore, not the cut


def test_search_page_says_no_good_match(server):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    running, _ = server
    done = subprocess.run(["node", str(BROWSER_DIR / "no_match_page.mjs"), running.base, ABSENT], capture_output=True,
                          text=True, timeout=120, cwd=BROWSER_DIR, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["cards"] == 0 and not seen["console"], seen
    assert seen["status"] == f"No good match for “{ABSENT}”: no picture scored {CUT:g} or more. Try other words."


def test_another_alpha_gets_no_default_cut_since_scores_change_scale(sample_collection):
    pictures_only = sample_collection.search(ABSENT, alpha=1.0, limit=20)
    assert len(pictures_only) == 20 and pictures_only.min_score is None
    assert "chelsea.png" in [r.id for r in sample_collection.search("un chat", alpha=1.0)][:2]


@pytest.mark.parametrize("options", [{"projection": False}, {"neighbours": False}],
                         ids=["conse-only", "version-2"])
def test_an_offline_model_unlike_the_calibrated_one_gets_no_measured_cut_or_scales(tmp_path, options):
    """The cut and the leg scales were measured on version 3 (bridge + projection + ConSE; Lite2's, and
    Lite0's under ``offline-lite0``): a collection kept on version 2 (projection + ConSE) or ConSE alone
    scores on another scale, so it is scaled by its own candidates and gets no default cut rather than
    constants that would hide its good matches."""
    from iconodex import Collection

    calibrated = Collection.create(tmp_path / "calibrated")
    other = Collection.create(tmp_path / "other", model_options=options)
    assert calibrated.search("a cat", limit=1).min_score == CUT and calibrated.searcher.scales
    assert other.search("a cat", limit=1).min_score is None
    assert not other.searcher.scales
