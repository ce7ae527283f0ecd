"""Hostile image servers on 127.0.0.1: dripping, endless and gzip-bomb bodies cost bounded time
and bounded memory, whatever the responses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zlib

import pytest
from _images_fetch import jpeg_bytes
from _servers_fetch import Reply, scripted_server

from iconodex import Collection
from iconodex.errors import FetchError
from iconodex.fetch.http import HttpClient

MB = 1024 * 1024


@pytest.fixture
def server():
    with scripted_server() as running:
        yield running


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """256 MB of zeros in about 256 KB of gzip."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(MB)
    return b"".join(packer.compress(block) for _ in range(256)) + packer.flush()


def test_a_dripping_server_is_cut_at_the_total_deadline(server):
    # One byte every 0.2 s never trips a 1 s read timeout: only a total deadline stops it.
    url = server.route("/drip.jpg", Reply(200, b"x" * 40, trickle=0.2))
    started = time.monotonic()
    with HttpClient(timeout=1.0, deadline=1.5, retries=2, backoff=0.01) as http, \
            pytest.raises(FetchError, match=r"took longer than 1\.5 s") as caught:
        http.get(url)
    assert time.monotonic() - started < 3.5  # not retried: a drip is not a passing blip
    assert "\n" not in str(caught.value) and len(server.hits_for("/drip.jpg")) == 1


def test_the_deadline_is_a_setting(tmp_path):
    with Collection.create(tmp_path / "c", settings={"deadline": 7}) as coll:
        assert coll.http.deadline == 7.0


def test_a_gzip_bomb_is_refused_at_the_cap_of_decoded_bytes(server, gzip_bomb):
    url = server.route("/bomb.jpg", Reply(200, gzip_bomb, headers={"Content-Encoding": "gzip"}))
    with HttpClient(max_bytes=4 * MB, retries=0) as http, pytest.raises(FetchError, match="larger than"):
        http.get(url)


def test_gzip_bodies_are_still_decoded(server):
    body = jpeg_bytes()
    packed = zlib.compress(body, wbits=31)
    url = server.route("/small.jpg", Reply(200, packed, headers={"Content-Encoding": "gzip"}))
    with HttpClient(retries=0) as http:
        assert http.get(url).content == body


_CHILD = """
import json, resource, sys
from iconodex.fetch.http import HttpClient
from iconodex.fetch.images import ImageFetcher
from iconodex.records import ImageRef

args = json.loads(sys.argv[1])
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
with HttpClient(retries=0, **args["client"]) as http:
    fetcher = ImageFetcher(http)
    fetcher.fetch(ImageRef("url", args["warm"]))  # imports and first allocations are not the point
    before = peak()
    outcomes = [str(o) for _, o in fetcher.fetch_many([ImageRef("url", u) for u in args["urls"]], workers=8)]
print(json.dumps({"grown": peak() - before, "outcomes": outcomes}))
"""


def _peak_growth(urls: list[str], warm: str, client: dict) -> dict:
    """Fetch ``urls`` with 8 workers in a fresh interpreter; how far its peak RSS grew."""
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps({"urls": urls, "warm": warm, "client": client})],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_memory_stays_bounded_with_sixteen_endless_and_bomb_bodies(server, gzip_bomb):
    """8 workers × a 32 MB cap could hold 256 MB of bodies (more with bombs decoded a chunk at a
    time); the shared budget of 64 MB bounds what is held at once, whatever the servers send."""
    warm = server.route("/warm.jpg", Reply(200, jpeg_bytes()))
    endless = Reply(200, os.urandom(MB), endless=True)
    bomb = Reply(200, gzip_bomb, headers={"Content-Encoding": "gzip"})
    urls = [server.route(f"/{i}.jpg", endless if i % 2 else bomb) for i in range(16)]
    result = _peak_growth(urls, warm, {"max_bytes": 32 * MB, "budget": 64 * MB})
    assert len(result["outcomes"]) == 16 and all("larger than" in o for o in result["outcomes"]), result["outcomes"]
    assert result["grown"] < 120 * MB, f"peak grew by {result['grown'] // MB} MB"
