"""Property-based tests over every parameter of every route in serve/ and over the SPARQL parser:
whatever a client sends, the answer is never a 500, never a traceback, and a 4xx says why in one line.

They run in-process (FastAPI's TestClient) against the shared real collection and the offline model;
``max_examples`` and ``deadline`` keep the whole module to a few seconds per route on 2 cores.
"""

from __future__ import annotations

import json
import math
from urllib.parse import quote

import pytest
from _serve_fixtures import PICTURES, SKIMAGE_DATA, shared_collection
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from iconodex.serve import ServeSettings, create_app
from iconodex.serve.sparql import SparqlError, parse

KEY = "fuzz-key"
CLIP = "https://service.swissartresearch.net/clip/"
HUGE = "9" * 5000
FUZZ = settings(max_examples=80, deadline=3000, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)

# What clients send by mistake or on purpose: odd digits, huge and negative numbers, NaN, empties.
NASTY = st.sampled_from(["²", "٣", "½", HUGE, "-" + HUGE, "1e999", "-1", "0", "nan", "NaN", "inf", "-inf",
                         "", " ", "1.5", "0x10", "1_000", "\x00", "\u202e", "🐈", "true", "null", "[]", "{}"])
# Query strings and form fields cannot carry lone surrogates (httpx cannot encode them).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
NUMBER = st.one_of(st.integers(-10**30, 10**30).map(str), st.floats().map(repr))
VALUE = st.one_of(NASTY, TEXT, NUMBER)
# A parameter given once, or repeated (an array where a scalar is expected).
PARAM = st.one_of(VALUE, st.lists(VALUE, min_size=2, max_size=3))


@pytest.fixture(scope="module")
def client():
    app = create_app(shared_collection(), ServeSettings(api_key=KEY))
    with TestClient(app, raise_server_exceptions=False) as running:
        yield running


def assert_sound(response, *, plain: bool = False) -> None:
    """No 5xx, no traceback, and an error that says why in one line."""
    body = response.text
    assert response.status_code < 500, (response.status_code, body[:300])
    assert "Traceback" not in body
    if response.status_code >= 400:
        message = body if plain else response.json()["error"]
        assert message.strip() and "\n" not in message.strip(), message[:300]
        assert len(message) < 1000


def params_of(names: list[str]):
    return st.dictionaries(st.sampled_from(names), PARAM, max_size=len(names))


def chelsea() -> bytes:
    return (SKIMAGE_DATA / "chelsea.png").read_bytes()


# -- REST ---------------------------------------------------------------------------------------

SEARCH = ["q", "like", "alpha", "keyword", "limit", "offset", "min_score", "where"]


@FUZZ
@given(params=params_of(SEARCH))
@example(params={"q": "cat", "limit": HUGE})
@example(params={"q": "cat", "min_score": "nan"})
def test_get_search_never_fails(client, params):
    assert_sound(client.get("/search", params=params))


@FUZZ
@given(fields=params_of(SEARCH), with_image=st.booleans())
@example(fields={"limit": "²"}, with_image=True)
def test_post_search_never_fails(client, fields, with_image):
    files = {"image": ("chelsea.png", chelsea(), "image/png")} if with_image else None
    assert_sound(client.post("/search", data=fields, files=files))


@FUZZ
@given(item=st.one_of(TEXT, NASTY), params=params_of(["alpha", "limit", "offset"]),
       tail=st.sampled_from(["", "/similar", "/image"]))
def test_items_never_fail(client, item, params, tail):
    assert_sound(client.get(f"/items/{quote(item, safe='')}{tail}", params=params))


@FUZZ
@given(item=st.one_of(TEXT, NASTY).filter(lambda item: item not in PICTURES))
def test_deleting_unknown_items_never_fails(client, item):
    response = client.delete(f"/items/{quote(item, safe='')}", headers={"X-API-Key": KEY})
    assert_sound(response)
    assert response.status_code in (400, 404, 405)


@FUZZ
@given(field=st.one_of(TEXT, NASTY), params=params_of(["limit"]))
def test_facets_and_stats_never_fail(client, field, params):
    assert_sound(client.get(f"/facets/{quote(field, safe='')}", params=params))
    assert_sound(client.get("/facets", params=params))
    assert_sound(client.get("/stats", params=params))


JSON = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=6)


@FUZZ
@given(body=st.one_of(JSON, st.fixed_dictionaries({"source": JSON.filter(lambda v: not isinstance(v, str))},
                                                   optional={"type": JSON, "options": JSON})))
def test_ingest_bodies_of_the_wrong_shape_are_400(client, body):
    # json.dumps writes NaN and Infinity as JavaScript does, as sloppy clients send them
    response = client.post("/ingest", content=json.dumps(body), headers={"X-API-Key": KEY,
                                                                          "Content-Type": "application/json"})
    assert_sound(response)
    assert response.status_code == 400


@FUZZ
@given(body=st.one_of(JSON, st.dictionaries(st.sampled_from(SEARCH), st.one_of(JSON, NASTY), max_size=4)))
@example(body={"q": "cat", "limit": float("inf")})
@example(body={"where": [["type:animal"]]})
def test_json_search_bodies_never_fail(client, body):
    response = client.post("/search", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert_sound(response)

# -- SARI /query --------------------------------------------------------------------------------

@FUZZ
@given(params=params_of(["str", "url", "minScore", "minSore", "limit"]))
@example(params={"str": "cat", "limit": HUGE})
@example(params={"str": "cat", "minScore": "nan"})
def test_sari_get_never_fails(client, params):
    params = {name: value for name, value in params.items() if name != "url" or value == ""}  # no fetches
    assert_sound(client.get("/query", params=params))


@FUZZ
@given(fields=params_of(["str", "minScore", "limit"]), query=params_of(["minScore", "limit"]))
@example(fields={"limit": "²"}, query={})
@example(fields={"limit": HUGE}, query={})
@example(fields={"minScore": "nan"}, query={})
def test_sari_post_never_fails(client, fields, query):
    files = {"image": ("chelsea.png", chelsea(), "image/png")}
    assert_sound(client.post("/query", params=query, data=fields, files=files))


# -- /sparql ------------------------------------------------------------------------------------

def clip_query(text: str, min_score: str, modifiers: str) -> str:
    return (f'PREFIX clip: <{CLIP}> SELECT ?i ?s WHERE {{ ?r a clip:Request ; clip:queryString "{text}" ; '
            f'clip:minScore "{min_score}" ; clip:score ?s ; clip:imageId ?i . }} {modifiers}')


SPARQL_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters='"\\\n'), max_size=20)
MODIFIER = st.tuples(st.sampled_from(["LIMIT", "OFFSET", "limit", "ORDER BY", "LIMIT LIMIT"]), VALUE) \
    .map(" ".join)
SPARQL = st.one_of(
    st.builds(clip_query, SPARQL_TEXT, VALUE, st.lists(MODIFIER, max_size=3).map(" ".join)),
    TEXT,
)


@FUZZ
@given(query=SPARQL, how=st.sampled_from(["get", "form", "body", "json"]),
       accept=st.sampled_from([None, "application/sparql-results+xml", "*/*", "text/html;q=x, ;;"]))
@example(query=clip_query("cat", "0.2", f"LIMIT {HUGE}"), how="get", accept=None)
@example(query=clip_query("cat", "0.2", f"OFFSET {HUGE}"), how="body", accept=None)
@example(query=clip_query("cat", "nan", "LIMIT 3"), how="form", accept=None)
def test_sparql_never_fails(client, query, how, accept):
    headers = {"Accept": accept} if accept else {}
    if how == "get":
        response = client.get("/sparql", params={"query": query}, headers=headers)
    elif how == "form":
        response = client.post("/sparql", data={"query": query}, headers=headers)
    else:
        headers["Content-Type"] = "application/sparql-query" if how == "body" else "application/json"
        response = client.post("/sparql", content=query.encode(), headers=headers)
    assert_sound(response, plain=True)
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("text/plain")


@settings(max_examples=300, deadline=500, derandomize=True)
@given(query=st.one_of(SPARQL, st.text(max_size=200)))
@example(query=clip_query("cat", "0.2", f"LIMIT {HUGE}"))
@example(query=clip_query("cat", "nan", ""))
def test_the_sparql_parser_accepts_or_says_why(query):
    """The parser either gives a sane request or raises SparqlError; nothing else escapes it."""
    try:
        clip = parse(query)
    except SparqlError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert clip.min_score is None or math.isfinite(clip.min_score)
    assert clip.limit is None or 0 <= clip.limit < 10**10
    assert 0 <= clip.offset < 10**10


# -- the bad parameters that answered 500 (or were silently accepted) ---------------------------

def sparql_get(client, query):
    return client.get("/sparql", params={"query": query})


@pytest.mark.parametrize("send, reason", [
    (lambda c: c.get("/search", params={"q": "cat", "min_score": "nan"}), "min_score"),
    (lambda c: c.get("/search", params={"q": "cat", "min_score": "-inf"}), "min_score"),
    (lambda c: c.get("/query", params={"str": "cat", "minScore": "nan"}), "min_score"),
    (lambda c: c.post("/query", data={"limit": "²"}, files={"f": ("c.png", chelsea())}), "limit"),
    (lambda c: c.post("/query", data={"limit": HUGE}, files={"f": ("c.png", chelsea())}), "limit"),
    (lambda c: c.post("/query", data={"limit": "-3"}, files={"f": ("c.png", chelsea())}), "limit"),
    (lambda c: sparql_get(c, clip_query("cat", "0.2", f"LIMIT {HUGE}")), "LIMIT"),
    (lambda c: sparql_get(c, clip_query("cat", "0.2", f"OFFSET {HUGE}")), "OFFSET"),
    (lambda c: sparql_get(c, clip_query("cat", "NaN", "LIMIT 3")), "minScore"),
])
def test_bad_numbers_are_a_one_line_400(client, send, reason):
    response = send(client)
    assert response.status_code == 400, response.text[:200]
    message = response.text if "/sparql" in str(response.url) else response.json()["error"]
    assert reason in message and "\n" not in message.strip() and len(message) < 200
