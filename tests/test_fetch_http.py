"""HttpClient and Cache against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
import time

import pytest
from _servers_fetch import Reply, scripted_server

from iconodex.errors import FetchError
from iconodex.fetch.cache import Cache
from iconodex.fetch.http import HttpClient, retry_after_seconds


@pytest.fixture
def server():
    with scripted_server() as running:
        yield running


@pytest.fixture
def http():
    with HttpClient(timeout=2.0, retries=2, backoff=0.01) as client:
        yield client


def test_404_is_a_one_line_error_with_the_status(server, http):
    url = server.route("/missing.jpg", Reply(404, b"<html>nope</html>"))
    with pytest.raises(FetchError) as caught:
        http.get(url)
    assert caught.value.status == 404 and "HTTP 404" in str(caught.value)
    assert len(server.hits_for("/missing.jpg")) == 1  # a 404 is not retried


def test_429_waits_for_retry_after_then_succeeds(server, http):
    url = server.route("/busy", Reply(429, headers={"Retry-After": "1"}), Reply(200, b"ok"))
    assert http.get(url).content == b"ok"
    first, second = server.hits_for("/busy")
    assert second.at - first.at >= 0.9  # the server's wish was honoured, not the 10 ms backoff


def test_500_then_200_is_retried(server, http):
    url = server.route("/flaky", Reply(500), Reply(503), Reply(200, b"fine"))
    assert http.get(url).content == b"fine"
    assert len(server.hits_for("/flaky")) == 3


def test_persistent_500_fails_after_the_retries(server, http):
    url = server.route("/down", Reply(500))
    with pytest.raises(FetchError, match="HTTP 500") as caught:
        http.get(url)
    assert caught.value.retryable and len(server.hits_for("/down")) == 3


def test_a_slow_server_times_out(server):
    url = server.route("/slow", Reply(200, b"late", delay=1.5))
    with HttpClient(timeout=0.3, retries=0) as client, pytest.raises(FetchError, match="timed out"):
        client.get(url)


def test_a_redirect_loop_is_reported_as_such(server, http):
    server.route("/a", Reply(302, headers={"Location": "/b"}))
    url = server.route("/b", Reply(302, headers={"Location": "/a"}))
    with pytest.raises(FetchError, match="redirect loop"):
        http.get(url)


def test_redirects_are_followed(server, http):
    server.route("/final", Reply(200, b"here"))
    url = server.route("/moved", Reply(301, headers={"Location": "/final"}))
    assert http.get(url).content == b"here"


def test_bodies_over_the_cap_are_refused(server):
    url = server.route("/big", Reply(200, os.urandom(5000)))
    with HttpClient(max_bytes=1000, retries=0) as client, pytest.raises(FetchError, match="larger than 1000"):
        client.get(url)


def test_secrets_are_masked_in_errors(server, http):
    url = server.route("/private?key=s3cr3t", Reply(403))
    with pytest.raises(FetchError) as caught:
        http.get(url)
    assert "s3cr3t" not in str(caught.value) and "403" in str(caught.value)


def test_get_json_refuses_an_html_page(server, http):
    url = server.route("/api", Reply(200, b"<html></html>", headers={"Content-Type": "text/html"}))
    with pytest.raises(FetchError, match="not valid JSON"):
        http.get_json(url)


def test_cache_revalidates_with_etag_and_reuses_bytes_on_304(server, http, tmp_path):
    cache = Cache(tmp_path / "cache")
    url = server.route("/pic.jpg", Reply(200, b"picture-bytes", etag='"v1"'))
    assert http.get_bytes(url, cache=cache) == b"picture-bytes"
    assert http.get_bytes(url, cache=cache) == b"picture-bytes"
    first, second = server.hits_for("/pic.jpg")
    assert "If-None-Match" not in first.headers and second.headers["If-None-Match"] == '"v1"'


def test_cache_picks_up_a_changed_resource(server, http, tmp_path):
    cache = Cache(tmp_path / "cache")
    url = server.route("/pic.jpg", Reply(200, b"old", etag='"v1"'), Reply(200, b"new", etag='"v2"'))
    assert http.get_bytes(url, cache=cache) == b"old"
    assert http.get_bytes(url, cache=cache) == b"new"
    assert cache.get(url).etag == '"v2"'


def test_cache_without_validators_serves_the_copy_without_a_request(server, http, tmp_path):
    cache = Cache(tmp_path / "cache")
    url = server.route("/plain.jpg", Reply(200, b"bytes"))
    http.get_bytes(url, cache=cache)
    assert http.get_bytes(url, cache=cache) == b"bytes"
    assert len(server.hits_for("/plain.jpg")) == 1


def test_cache_evicts_least_recently_used_entries(tmp_path):
    cache = Cache(tmp_path / "cache", max_bytes=2500)
    for name in ("a", "b"):
        cache.put(f"http://x/{name}", b"x" * 1000)
    old = time.time() - 100
    os.utime(cache._paths("http://x/a")[0], (old, old))  # "a" was used long ago…
    cache.get("http://x/b")
    cache.put("http://x/c", b"x" * 1000)  # …so it is the one that makes room
    assert cache.get("http://x/a") is None
    assert cache.get("http://x/b") is not None and cache.get("http://x/c") is not None


def test_cache_ignores_damaged_entries(tmp_path):
    cache = Cache(tmp_path / "cache")
    cache.put("http://x/a", b"data", etag='"1"')
    cache._paths("http://x/a")[1].write_text("{not json")
    assert cache.get("http://x/a") is None


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
