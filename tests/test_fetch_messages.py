"""What a failed request says: which host, what happened in words, the server's own message,
the URL once; and a host that stopped answering is given up for the rest of the run."""

from __future__ import annotations

import json
import socket
import time

import pytest
from _images_fetch import jpeg_bytes
from _net import free_port
from _servers_fetch import Reply, scripted_server

from iconodex import Collection
from iconodex.errors import FetchError
from iconodex.fetch.http import HttpClient


@pytest.fixture
def server():
    with scripted_server() as running:
        yield running


@pytest.fixture
def http():
    with HttpClient(timeout=0.5, retries=0) as client:
        yield client


def _failure(http: HttpClient, url: str) -> str:
    with pytest.raises(FetchError) as caught:
        http.get(url)
    message = str(caught.value)
    assert "\n" not in message and message.count(url.split("?")[0]) == 1, message
    return message


def test_a_refused_connection_says_so_with_the_host(http):
    port = free_port()  # nothing listens there
    message = _failure(http, f"http://127.0.0.1:{port}/a.jpg")
    assert f"127.0.0.1:{port} refused the connection" in message and "ConnectError" not in message


def test_an_unknown_host_says_it_cannot_be_resolved(http, monkeypatch):
    # Resolving a made-up name would ask the network's DNS server: answer as a resolver does.
    def no_such_host(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    message = _failure(http, "http://images.example.invalid/a.jpg")
    assert "cannot resolve the host name images.example.invalid" in message and "ConnectError" not in message


def test_a_server_that_never_answers_timed_out():
    with socket.socket() as silent:  # accepts connections (the backlog does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/a.jpg"
        with HttpClient(timeout=0.3, retries=0) as http:
            assert "stopped answering (timed out)" in _failure(http, url)


def test_tls_to_a_plain_http_server_names_tls(server, http):
    server.route("/a.jpg", Reply(200, b"x"))
    message = _failure(http, f"https://127.0.0.1:{server.port}/a.jpg")
    assert f"TLS handshake with 127.0.0.1:{server.port} failed" in message


def test_403_carries_the_servers_message_and_a_key_hint(server, http):
    said = {"errors": {"error": "Permission denied for the current user to read\n items"}}
    url = server.route("/api/items?key_identity=abc&key_credential=s3cret",
                       Reply(403, json.dumps(said).encode(), headers={"Content-Type": "application/json"}))
    message = _failure(http, url)
    assert 'HTTP 403 Forbidden: "Permission denied for the current user to read items"' in message
    assert "API key" in message and "s3cret" not in message


def test_an_html_error_page_gives_its_title_not_its_markup(server, http):
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1>" + b"x" * 5000 + b"</body></html>"
    url = server.route("/gone.jpg", Reply(404, page, headers={"Content-Type": "text/html"}))
    message = _failure(http, url)
    assert message.endswith('HTTP 404 Not Found: "502 Bad Gateway"') and "<" not in message


def test_a_dead_image_server_is_given_up_and_its_items_retried_next_run(tmp_path):
    """40 items on a server that refuses connections: with the default retries and backoff each
    would cost seconds; the host is given up after a few failures, every item fails at once with
    the same reason, and the next run, with the server back, indexes them all."""
    port = free_port()
    urls = [f"http://127.0.0.1:{port}/{i}.jpg" for i in range(40)]
    listing = tmp_path / "pictures.txt"
    listing.write_text("\n".join(urls) + "\n")
    with Collection.create(tmp_path / "c", settings={"workers": 8}) as coll:
        started = time.monotonic()
        report = coll.ingest(str(listing))
        elapsed = time.monotonic() - started
        assert len(report.failed) == 40 and elapsed < 10, (len(report.failed), elapsed)  # retrying each: ~18 s
        reasons = {reason.split(": ", 1)[1] for _, reason in report.failed}
        assert reasons == {f"127.0.0.1:{port} refused the connection (nothing listens there, or a firewall says no)"}
        with scripted_server(port) as back:
            for i in range(40):
                back.route(f"/{i}.jpg", Reply(200, jpeg_bytes(color=(i * 6, 100, 50))))
            again = coll.ingest(str(listing))  # the same process: the host is tried again
    assert again.failed == [] and again.indexed == 40 and again.retried == 40
