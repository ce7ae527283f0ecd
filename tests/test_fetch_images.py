"""ImageFetcher: local files, URLs and IIIF services; every failure is one line, batches go on."""

from __future__ import annotations

import hashlib

import pytest
from _images_fetch import good_images, jpeg_bytes, write_zoo
from _servers_fetch import Reply, scripted_server

from iconodex.errors import DecodeError, FetchError, IconodexError
from iconodex.fetch.cache import Cache
from iconodex.fetch.http import HttpClient
from iconodex.fetch.images import FetchedImage, ImageFetcher
from iconodex.records import ImageRef


@pytest.fixture
def server():
    with scripted_server() as running:
        yield running


@pytest.fixture
def fetcher():
    with HttpClient(timeout=0.5, retries=1, backoff=0.01) as http:
        yield ImageFetcher(http, None, min_side=32)


def test_url_image_is_fetched_decoded_and_hashed(server, fetcher):
    data = jpeg_bytes((400, 200))
    url = server.route("/a.jpg", Reply(200, data, headers={"Content-Type": "image/jpeg"}))
    fetched = fetcher.fetch(ImageRef("url", url))
    assert fetched.image.size == (64, 32) and fetched.source_url == url
    assert fetched.content_hash == hashlib.blake2b(data, digest_size=16).hexdigest()


def test_http_outcomes_in_one_batch(server, fetcher):
    good = jpeg_bytes()
    refs = [
        ImageRef("url", server.route("/ok.jpg", Reply(200, good))),
        ImageRef("url", server.route("/missing.jpg", Reply(404))),
        ImageRef("url", server.route("/busy.jpg", Reply(429, headers={"Retry-After": "0"}), Reply(200, good))),
        ImageRef("url", server.route("/flaky.jpg", Reply(500), Reply(200, good))),
        ImageRef("url", server.route("/slow.jpg", Reply(200, good, delay=1.5))),
        ImageRef("url", server.route("/loop.jpg", Reply(302, headers={"Location": "/loop.jpg"}))),
        ImageRef("url", server.route("/page.jpg", Reply(200, b"<!doctype html><html><body>Login</body></html>"))),
        ImageRef("url", server.route("/secret.jpg?token=hunter2", Reply(403))),
    ]
    outcomes = dict(fetcher.fetch_many(refs, workers=4))
    assert sorted(outcomes) == list(range(len(refs)))
    assert all(isinstance(outcomes[i], FetchedImage) for i in (0, 2, 3))
    expected = {1: (FetchError, "HTTP 404"), 4: (FetchError, "timed out"), 5: (FetchError, "redirect"),
                6: (DecodeError, "HTML page"), 7: (FetchError, "HTTP 403")}
    for index, (kind, words) in expected.items():
        assert isinstance(outcomes[index], kind) and words in str(outcomes[index]), outcomes[index]
        assert "\n" not in str(outcomes[index]) and "hunter2" not in str(outcomes[index])


def test_path_refs_in_a_broken_folder(tmp_path):
    expected = write_zoo(tmp_path)
    names = sorted(good_images()) + sorted(expected)
    refs = [ImageRef("path", str(tmp_path / name)) for name in names]
    outcomes = dict(ImageFetcher(None).fetch_many(refs, workers=3))
    for index, name in enumerate(names):
        outcome = outcomes[index]
        if name.startswith("good"):
            assert isinstance(outcome, FetchedImage), outcome
        else:
            assert isinstance(outcome, IconodexError) and name in str(outcome) and "\n" not in str(outcome)
            assert expected[name].lower() in str(outcome).lower() or "cannot read" in str(outcome)


def test_fetch_many_consumes_a_long_iterator_lazily(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_bytes())
    consumed = []

    def refs():
        for i in range(50):
            consumed.append(i)
            yield ImageRef("path", str(path))

    results = ImageFetcher(None).fetch_many(refs(), workers=2)
    next(results)
    assert len(consumed) < 50  # only a window of work was started
    assert len(list(results)) == 49


def test_urls_need_an_http_client():
    with pytest.raises(FetchError, match="no HTTP client"):
        ImageFetcher(None).fetch(ImageRef("url", "http://127.0.0.1:9/a.jpg"))


def test_fetcher_uses_the_cache(server, tmp_path):
    url = server.route("/c.jpg", Reply(200, jpeg_bytes(), etag='"1"'))
    with HttpClient(retries=0) as http:
        fetcher = ImageFetcher(http, Cache(tmp_path / "cache"), min_side=32)
        first, second = fetcher.fetch(ImageRef("url", url)), fetcher.fetch(ImageRef("url", url))
    assert first.content_hash == second.content_hash
    assert [hit.headers.get("If-None-Match") for hit in server.hits_for("/c.jpg")] == [None, '"1"']


def test_iiif_level0_without_sizes_falls_back_to_the_full_image(server, fetcher):
    base = server.route("/iiif/3/pic/full/!64,64/0/default.jpg", Reply(400, b"size not supported"))
    base = base.split("/full/")[0]
    server.route("/iiif/3/pic/info.json", Reply(200, b'{"id": "http://internal/pic", "type": "ImageService3", "profile": "level0"}'))
    server.route("/iiif/3/pic/full/max/0/default.jpg", Reply(200, jpeg_bytes()))
    fetched = fetcher.fetch(ImageRef("iiif", base, "3"))
    assert fetched.source_url == f"{base}/full/max/0/default.jpg"  # our base, not the info.json's


def test_iiif_failure_reports_both_the_image_and_the_info_json(server, fetcher):
    base = server.base + "/iiif/2/gone"
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(ImageRef("iiif", base, "2"))
    assert "HTTP 404" in str(caught.value) and "info.json" in str(caught.value)
