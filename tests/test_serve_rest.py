"""The REST API and SARI's /query, over real HTTP against a real collection and the offline model."""

from __future__ import annotations

import io
import json
import socket
import sqlite3

import pytest
from _serve_fixtures import SKIMAGE_DATA, serve, shared_collection, shared_folder
from PIL import Image

from iconodex import Collection
from iconodex.records import ImageRef
from iconodex.search import SearchResult
from iconodex.serve import ServeSettings
from iconodex.serve.views import sari_record, thumbnail_url
from iconodex.store import ItemStore

KEY = "s3cret-key-for-tests"
SARI_KEYS = {"score", "imageId", "url", "link"}


@pytest.fixture(scope="module")
def coll() -> Collection:
    return shared_collection()


@pytest.fixture(scope="module")
def server(coll):
    settings = ServeSettings(api_key=KEY, ingest_roots=(str(shared_folder()),))
    with serve(coll, settings) as running, running.client() as client:
        yield client


def chelsea_bytes() -> bytes:
    return (SKIMAGE_DATA / "chelsea.png").read_bytes()


# -- reads ------------------------------------------------------------------------------------

def test_health_says_model_and_items(server):
    assert server.get("/health").json() == {"status": "ok", "model": "ready", "items": 8, "index": {"state": "ok"}}


def test_text_search_finds_the_cat_with_scores_and_a_loadable_thumbnail(server):
    page = server.get("/search", params={"q": "a cat", "limit": 3, "min_score": 0}).json()
    top = page["results"][0]
    assert top["id"] == "chelsea.png" and top["title"] == "Chelsea the cat"
    assert top["score"] >= page["results"][1]["score"] and set(top["scores"]) >= {"text-query:image"}
    assert top["image"] == top["thumbnail"] == "/items/chelsea.png/image"  # no server path leaks
    thumb = server.get(top["thumbnail"])
    assert thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) <= 400


def test_search_in_another_language(server):
    assert server.get("/search", params={"q": "eine Katze"}).json()["results"][0]["id"] == "chelsea.png"


def test_filters_pagination_and_facets(server):
    animals = server.get("/search", params={"q": "animal", "where": "type:animal", "limit": 10}).json()["results"]
    assert {r["id"] for r in animals} == {"chelsea.png", "horse.png"}
    two = server.get("/search", params={"q": "space", "limit": 2, "min_score": 0}).json()["results"]
    second = server.get("/search", params={"q": "space", "limit": 1, "offset": 1, "min_score": 0}).json()["results"]
    assert second[0]["id"] == two[1]["id"]
    values = server.get("/facets/type").json()["values"]
    assert {"value": "animal", "count": 2} in values
    assert "type" in {f["field"] for f in server.get("/facets").json()["fields"]}


def test_like_and_similar_exclude_the_item_itself(server):
    like = server.get("/search", params={"like": "chelsea.png", "limit": 7}).json()["results"]
    similar = server.get("/items/chelsea.png/similar", params={"limit": 7}).json()["results"]
    assert "chelsea.png" not in {r["id"] for r in like} | {r["id"] for r in similar}
    assert len(similar) == 7


def test_a_served_like_search_reads_its_result_rows_once(server, monkeypatch):
    """The rows the ranking read carry each result's picture: no second query for the thumbnails."""
    statements: list[str] = []
    traced: list[sqlite3.Connection] = []
    real = ItemStore.conn

    def tracing(store: ItemStore) -> sqlite3.Connection:
        conn = real.fget(store)
        if conn not in traced:
            traced.append(conn)
            conn.set_trace_callback(statements.append)
        return conn
    monkeypatch.setattr(ItemStore, "conn", property(tracing))
    try:
        page = server.get("/search", params={"like": "horse.png", "limit": 5, "alpha": 0.37}).json()
    finally:
        for conn in traced:
            conn.set_trace_callback(None)
    assert len(page["results"]) == 5 and all(r["thumbnail"] for r in page["results"])
    assert len([s for s in statements if "FROM items WHERE key IN" in s]) == 1, statements


def test_results_and_items_name_their_source_only_to_the_key_holder(server):
    """A source's name holds the server's paths and hosts ("folder:/srv/…")."""
    for path, params in (("/search", {"q": "cat"}), ("/items/chelsea.png/similar", {}), ("/items/chelsea.png", {})):
        public = server.get(path, params=params).json()
        keyed = server.get(path, params=params, headers={"X-API-Key": KEY}).json()
        public_views = public.get("results", [public])
        keyed_views = keyed.get("results", [keyed])
        assert public_views and all("source" not in view for view in public_views)
        assert all(view["source"].startswith("folder:/") for view in keyed_views)
        assert str(shared_folder()) not in json.dumps(public)


def test_public_stats_count_without_naming_sources_or_failures(server, coll):
    public = server.get("/stats").json()
    assert public["sources"] and all(set(source) <= {"kind", "last_run", "last_report"} for source in public["sources"])
    assert str(shared_folder()) not in json.dumps(public) and "reason" not in json.dumps(public)
    keyed = server.get("/stats", headers={"X-API-Key": KEY}).json()
    assert keyed["sources"][0]["spec"] == str(shared_folder()) and keyed["path"] == str(coll.path)


def test_item_and_stats(server):
    item = server.get("/items/horse.png").json()
    assert item["metadata"]["subject"] == ["horse"] and item["status"] == "indexed"
    stats = server.get("/stats").json()
    assert stats["indexed"] == 8 and "path" not in stats


def test_upload_search_finds_the_same_picture(server):
    page = server.post("/search", files={"image": ("cat.png", chelsea_bytes(), "image/png")},
                       data={"limit": "2"}).json()
    assert page["results"][0]["id"] == "chelsea.png"


def test_post_search_takes_a_json_body_as_get_takes_its_query(server):
    """A JSON client posts its search; before, the body was ignored: "nothing to search for"."""
    asked = {"q": "a cat", "limit": 3, "min_score": 0, "where": ["type:animal"]}
    posted = server.post("/search", json=asked)
    assert posted.status_code == 200, posted.text
    got = server.get("/search", params={**asked, "where": "type:animal"}).json()
    assert posted.json() == got and got["results"][0]["id"] == "chelsea.png"
    assert server.post("/search", json={"like": "chelsea.png", "limit": 1}).json()["results"]


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"q": ', "not valid JSON"),
    (b'["a cat"]', "a JSON object"),
    (b'{"query": "a cat"}', "query: "),
    (b'{"q": "a cat", "limit": "lots"}', "limit: "),
    (b'{"q": "a cat", "alpha": 2}', "alpha: "),
    (b'{"q": "a cat", "min_score": NaN}', "min_score"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON (nested too deeply)"),
    (b'{"q": "\xff\xfe"}', "not valid JSON (not UTF-8 text)"),
])
def test_a_bad_json_search_body_is_a_one_line_400_that_names_the_problem(server, body, reason):
    response = server.post("/search", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert reason in message and "\n" not in message, message


def test_the_api_description_offers_the_json_body_for_post_search(server):
    content = server.get("/openapi.json").json()["paths"]["/search"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(content)
    assert {"q", "url", "like", "where"} <= set(content["application/json"]["schema"]["properties"])


# -- SARI /query ------------------------------------------------------------------------------

def test_sari_query_has_the_seed_shape_and_order(server):
    answer = server.get("/query", params={"str": "a cat", "minScore": 0.0, "limit": 5}).json()
    assert isinstance(answer, list) and len(answer) == 5
    assert all(set(hit) == SARI_KEYS for hit in answer)
    assert answer[0]["imageId"] == "chelsea.png"
    assert [h["score"] for h in answer] == sorted((h["score"] for h in answer), reverse=True)
    assert answer[0]["url"].endswith("/items/chelsea.png/image") and answer[0]["link"] == answer[0]["url"]
    assert server.get(answer[0]["url"]).status_code == 200


def test_sari_min_score_defaults_to_0_2_and_accepts_the_swagger_spelling(server):
    default = server.get("/query", params={"str": "a cat"}).json()
    assert default and all(hit["score"] >= 0.2 for hit in default)
    everything = server.get("/query", params={"str": "a cat", "minSore": -1, "limit": 8}).json()
    assert len(everything) == 8 and len(default) < 8
    high = everything[1]["score"]
    assert len(server.get("/query", params={"str": "a cat", "minScore": high, "limit": 8}).json()) == 2


def test_sari_upload_form(server):
    answer = server.post("/query", files={"file": ("cat.png", chelsea_bytes(), "image/png")}).json()
    assert answer[0]["imageId"] == "chelsea.png" and set(answer[0]) == SARI_KEYS


def test_sari_links_for_iiif_and_url_items():
    result = SearchResult(id="x", key=1, score=0.3, title="", image=None, source="s")
    iiif = ImageRef("iiif", "https://bso-iiif.example.net/iiif/2/nb-480729/info.json", api_version="2")
    assert sari_record(result, iiif, "http://me/") == {
        "score": 0.3, "imageId": "x", "url": "https://bso-iiif.example.net/iiif/2/nb-480729",
        "link": "https://bso-iiif.example.net/iiif/2/nb-480729/full/1000,/0/default.jpg"}
    plain = ImageRef("url", "https://example.org/a.jpg")
    assert sari_record(result, plain, "http://me/")["link"] == "https://example.org/a.jpg"
    assert thumbnail_url("x", iiif, {}) == "https://bso-iiif.example.net/iiif/2/nb-480729/full/!300,300/0/default.jpg"


def test_sari_url_search_through_an_allowed_host(coll):
    with serve(coll, ServeSettings(fetch_allow_hosts=("127.0.0.1",))) as running, running.client() as client:
        url = f"{running.base}/items/chelsea.png/image"
        answer = client.get("/query", params={"url": url, "limit": 1}).json()
        assert answer[0]["imageId"] == "chelsea.png"


# -- limits, SSRF, errors ---------------------------------------------------------------------

@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:9/x.jpg", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "cloud-metadata"),
    ("http://10.0.0.1/x.jpg", "private"),
    ("file:///etc/passwd", "only http and https"),
])
def test_image_urls_into_the_servers_network_are_refused(server, url, reason, caplog):
    """The public answer says "not allowed" and nothing about the server's network; the log and
    the key holder get the reason."""
    for path in ("/query", "/search"):
        public = server.get(path, params={"url": url})
        assert public.status_code == 400 and public.json()["error"] == "the image URL is not allowed", public.text
        assert reason in caplog.text
        keyed = server.get(path, params={"url": url}, headers={"X-API-Key": KEY})
        assert keyed.status_code == 400 and reason in keyed.json()["error"]


def test_a_name_the_server_cannot_resolve_reads_like_any_refused_url(server, monkeypatch, caplog):
    """Otherwise "cannot resolve" against "not allowed" tells which internal names exist."""
    resolve = socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        if host == "intranet-wiki.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    public = server.get("/search", params={"url": "http://intranet-wiki.invalid/x.jpg"})
    assert public.status_code == 400 and public.json()["error"] == "the image URL is not allowed"
    keyed = server.get("/search", params={"url": "http://intranet-wiki.invalid/x.jpg"}, headers={"X-API-Key": KEY})
    assert "cannot resolve intranet-wiki.invalid" in keyed.json()["error"]
    assert "cannot resolve intranet-wiki.invalid" in caplog.text


def test_own_server_url_is_refused_by_default(server):
    response = server.get("/search", params={"url": f"{server.base_url}/items/chelsea.png/image"})
    assert response.status_code == 400 and response.json()["error"] == "the image URL is not allowed"


@pytest.mark.parametrize("params, message", [
    ({"q": "x" * 501}, "the limit is 500"),
    ({"q": "cat", "limit": 101}, "limit must be between 1 and 100"),
    ({"q": "cat", "offset": -1}, "offset"),
    ({"q": "cat", "alpha": 2}, "alpha"),
    ({"q": "cat", "where": "nocolon"}, "field:value"),
    ({"q": "cat", "limit": "many"}, "limit"),
    ({}, "nothing to search for"),
])
def test_bad_input_is_a_one_line_400(server, params, message):
    response = server.get("/search", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error and "\n" not in error


def test_unknown_item_is_404(server):
    for path in ("/items/nope", "/items/nope/similar", "/items/nope/image"):
        response = server.get(path)
        assert response.status_code == 404 and "no item with id 'nope'" in response.json()["error"]


def test_non_picture_upload_is_400(server):
    response = server.post("/search", files={"image": ("x.png", b"<html>hello</html>", "image/png")})
    assert response.status_code == 400 and "HTML" in response.json()["error"]


@pytest.fixture(scope="module")
def small_limits(coll):
    settings = ServeSettings(max_upload_bytes=200_000, max_pixels=1_000_000)
    with serve(coll, settings) as running, running.client() as client:
        yield client


def test_uploads_over_the_byte_limit_are_413(small_limits):
    big = b"\x89PNG\r\n\x1a\n" + bytes(400_000)
    response = small_limits.post("/search", files={"image": ("big.png", big, "image/png")})
    assert response.status_code == 413 and "larger than" in response.json()["error"]


@pytest.mark.parametrize("path", ["/query", "/search"])
def test_chunked_uploads_cannot_pass_the_byte_limit(small_limits, path):
    def body():  # no Content-Length: the server must count while reading
        yield b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
        for _ in range(100):
            yield bytes(10_000)

    response = small_limits.post(path, content=body(), headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413 and "larger than" in response.json()["error"]


def test_pictures_over_the_pixel_limit_are_413(small_limits):
    out = io.BytesIO()
    Image.new("RGB", (2000, 1000), "white").save(out, "PNG")  # small file, 2 MP
    response = small_limits.post("/search", files={"image": ("wide.png", out.getvalue(), "image/png")})
    assert response.status_code == 413 and "2000×1000" in response.json()["error"]


def test_openapi_documents_the_routes(server):
    paths = server.get("/openapi.json").json()["paths"]
    assert {"/query", "/search", "/sparql", "/items/{item_id}", "/health"} <= set(paths)
    assert server.get("/docs").status_code == 200


# -- keys, private reads, CORS ----------------------------------------------------------------

def test_changes_need_the_key(server, coll):
    assert server.delete("/items/coins.png").status_code == 401
    wrong = server.delete("/items/coins.png", headers={"X-API-Key": "guess"})
    assert wrong.status_code == 403 and "guess" not in wrong.text
    assert server.post("/ingest", json={"source": "/etc"}).status_code == 401
    assert coll.get("coins.png") is not None


def test_delete_then_ingest_with_the_key(server, coll):
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert server.delete("/items/coins.png", headers=bearer).json() == {"deleted": 1}
    assert server.get("/items/coins.png").status_code == 404
    report = server.post("/ingest", json={"source": str(shared_folder())}, headers={"X-API-Key": KEY}).json()
    assert report["added"] == 1 and report["unchanged"] == 7
    assert server.get("/items/coins.png").status_code == 200


def test_a_server_without_a_key_refuses_all_changes(coll):
    with serve(coll) as running, running.client() as client:
        response = client.delete("/items/coins.png", headers={"X-API-Key": "anything"})
        assert response.status_code == 403 and "--api-key" in response.json()["error"]


def test_private_reads_need_the_key_but_health_does_not(coll):
    with serve(coll, ServeSettings(api_key=KEY, private=True)) as running, running.client() as client:
        assert client.get("/search", params={"like": "horse.png"}).status_code == 401
        assert client.get("/query", params={"str": "cat"}).status_code == 401
        assert client.get("/sparql", params={"query": "x"}).status_code == 401
        assert client.get("/health").status_code == 200
        ok = client.get("/search", params={"like": "horse.png"}, headers={"X-API-Key": KEY})
        assert ok.status_code == 200


def test_cors_is_off_by_default_and_configurable(server, coll):
    origin = {"Origin": "https://museum.example"}
    assert "access-control-allow-origin" not in server.get("/health", headers=origin).headers
    settings = ServeSettings(cors_origins=("https://museum.example",))
    with serve(coll, settings) as running, running.client() as client:
        allowed = client.get("/health", headers=origin).headers
        assert allowed["access-control-allow-origin"] == "https://museum.example"


def test_like_only_server_answers_like_and_503s_text(coll):
    fresh = Collection.open(coll.path, read_only=True)
    try:
        with serve(fresh, ServeSettings(load_model=False)) as running, running.client() as client:
            assert client.get("/health").json()["model"] == "off"
            refused = client.get("/search", params={"q": "cat"})
            assert refused.status_code == 503 and "like=" in refused.json()["error"]
            assert client.get("/search", params={"like": "horse.png"}).status_code == 200
            assert not fresh.model_loaded
    finally:
        fresh.close()
