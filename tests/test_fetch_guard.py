"""GuardedFetcher: client-given URLs never reach private addresses, on any hop.

Only 127.0.0.1 is ever contacted: refusals happen after DNS resolution and before connecting,
which the loopback server's hit log proves for the direct case.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tracemalloc
import zlib

import pytest
from _servers_fetch import Reply, scripted_server

from iconodex.errors import FetchError
from iconodex.fetch.guard import GuardedFetcher, pin_to_address, refusal_reason


@pytest.fixture
def server():
    with scripted_server() as running:
        yield running


def test_loopback_is_refused_by_default_without_sending_anything(server):
    url = server.route("/pic.jpg", Reply(200, b"data"))
    with GuardedFetcher() as guard, pytest.raises(FetchError, match="refused: 127.0.0.1 resolves to loopback"):
        guard.fetch(url)
    assert server.hits == []


def test_localhost_by_name_is_refused_too(server):
    url = server.route("/pic.jpg", Reply(200, b"data")).replace("127.0.0.1", "localhost")
    with GuardedFetcher() as guard, pytest.raises(FetchError, match="loopback"):
        guard.fetch(url)
    assert server.hits == []


def test_an_allowed_host_is_fetched(server):
    url = server.route("/pic.jpg", Reply(200, b"data"))
    with GuardedFetcher(allow_hosts=("127.0.0.1",)) as guard:
        assert guard.fetch(url) == b"data"
    assert server.hits[0].headers["Host"] == f"127.0.0.1:{server.port}"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://localhost:{port}/pic.jpg", "loopback"),  # allowed by IP literal only, not by name
        ("http://169.254.169.254/latest/meta-data/", "cloud-metadata"),
        ("http://10.0.0.1/admin", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[::1]:{port}/", "loopback"),
        ("http://[fd00:ec2::254]/", "cloud-metadata"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://0.0.0.0:{port}/", "unspecified"),
        ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:70/", "only http and https"),
    ],
)
def test_redirects_to_forbidden_places_are_refused(server, target, reason):
    url = server.route("/jump", Reply(302, headers={"Location": target.format(port=server.port)}))
    with GuardedFetcher(allow_hosts=("127.0.0.1",)) as guard, pytest.raises(FetchError) as caught:
        guard.fetch(url)
    assert reason in str(caught.value) and "\n" not in str(caught.value)
    assert [hit.path for hit in server.hits] == ["/jump"]  # nothing after the refused hop


def test_redirect_chains_are_followed_and_capped(server):
    server.route("/end", Reply(200, b"done"))
    start = server.route("/start", Reply(301, headers={"Location": "/end"}))
    loop = server.route("/loop", Reply(302, headers={"Location": "/loop"}))
    with GuardedFetcher(allow_hosts=("127.0.0.1",)) as guard:
        assert guard.fetch(start) == b"done"
        with pytest.raises(FetchError, match="more than 5 redirects"):
            guard.fetch(loop)


def test_an_oversize_body_is_cut(server):
    url = server.route("/huge.jpg", Reply(200, os.urandom(200_000)))
    with GuardedFetcher(max_bytes=10_000, allow_hosts=("127.0.0.1",)) as guard, pytest.raises(FetchError, match="larger than 10000"):
        guard.fetch(url)


def test_a_slow_trickling_body_hits_the_total_deadline(server):
    url = server.route("/slow.jpg", Reply(200, b"x" * 100, trickle=0.05))
    with GuardedFetcher(timeout=0.5, allow_hosts=("127.0.0.1",)) as guard, pytest.raises(FetchError, match="timed out"):
        guard.fetch(url)


def test_a_gzip_bomb_is_cut_without_inflating_it_whole(server):
    """httpx inflates each 64 KB gzip chunk whole (64 MB of zeros) before a cap can be checked;
    the guard inflates a bounded step at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(packer.compress(bytes(1024 * 1024)) for _ in range(128)) + packer.flush()
    url = server.route("/bomb.jpg", Reply(200, bomb, headers={"Content-Encoding": "gzip"}))
    with GuardedFetcher(max_bytes=2_000_000, allow_hosts=("127.0.0.1",)) as guard:
        tracemalloc.start()
        try:
            with pytest.raises(FetchError, match="larger than 2000000"):
                guard.fetch(url)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"{peak // 1024 // 1024} MB"


def test_error_statuses_are_reported(server):
    url = server.route("/gone.jpg", Reply(410))
    with GuardedFetcher(allow_hosts=("127.0.0.1",)) as guard, pytest.raises(FetchError, match="HTTP 410"):
        guard.fetch(url)


def test_unresolvable_hosts_are_one_line_errors(monkeypatch):
    # A made-up name would go to the network's DNS server: answer as a resolver does.
    def no_such_host(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with GuardedFetcher() as guard, pytest.raises(FetchError, match="cannot resolve"):
        guard.fetch("http://no-such-host.invalid/pic.jpg")


@pytest.mark.parametrize(
    ("address", "public"),
    [("93.184.215.14", True), ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True), ("100.64.0.1", False),
     ("224.0.0.1", False), ("64:ff9b::a00:1", False), ("2002:a00:1::", False), ("fe80::1", False), ("::", False)],
)
def test_address_classification(address, public):
    assert (refusal_reason(ipaddress.ip_address(address)) is None) == public


def test_connections_are_pinned_to_the_checked_address():
    https, extensions = pin_to_address("https://images.example.org:8443/a/b.jpg?x=1", ipaddress.ip_address("93.184.215.14"))
    assert https == "https://93.184.215.14:8443/a/b.jpg?x=1" and extensions == {"sni_hostname": "images.example.org"}
    http, extensions = pin_to_address("http://images.example.org/", ipaddress.ip_address("2606:2800::1"))
    assert http == "http://[2606:2800::1]/" and extensions == {}
