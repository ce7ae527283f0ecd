"""A real ``iconodex serve`` on a public port: idle sockets, slow headers and secrets in URLs."""

from __future__ import annotations

import resource
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from _net import free_port, wait_until_up
from _serve_fixtures import shared_collection

ICONODEX = [sys.executable, "-c", "from iconodex.cli import main; main()"]
CONNECTIONS = 1000


@contextmanager
def _server(log: Path) -> Iterator[str]:
    """``iconodex serve --no-model`` in a subprocess, its stdout and stderr written to ``log``."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as sink:
        process = subprocess.Popen([*ICONODEX, "serve", "-c", str(shared_collection().path), "--port", str(port),
                                    "--no-model"], stdout=sink, stderr=subprocess.STDOUT)
        try:
            wait_until_up(f"{base}/health", process, "iconodex serve", timeout=60)
            yield base
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def _raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard) if hard > 0 else needed, hard))


def _connect(port: int, stack: ExitStack) -> socket.socket:
    sock = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
    return sock


def _closed_by_server(sock: socket.socket, limit: float) -> bool:
    sock.settimeout(limit)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _open_after(sockets: list[socket.socket], deadline: float) -> list[socket.socket]:
    """The sockets the server has not closed by ``deadline`` (monotonic)."""
    waiting = set(sockets)
    with selectors.DefaultSelector() as selector:  # epoll: select() stops at descriptor 1024
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        while waiting and time.monotonic() < deadline:
            for key, _ in selector.select(0.2):
                if _closed_by_server(key.fileobj, 0.01):
                    selector.unregister(key.fileobj)
                    waiting.discard(key.fileobj)
    return list(waiting)


def test_a_thousand_idle_or_half_sent_connections_neither_block_health_nor_stay_open(tmp_path):
    _raise_open_files(CONNECTIONS + 256)
    with _server(tmp_path / "serve.log") as base, ExitStack() as stack:
        port = int(base.rsplit(":", 1)[1])
        opened = time.monotonic()
        sockets = [_connect(port, stack) for _ in range(CONNECTIONS)]
        for sock in sockets[::2]:  # half of them start a request and never finish its headers
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        time.sleep(0.5)  # let the server accept them all

        started = time.monotonic()
        health = httpx.get(f"{base}/health", timeout=5, trust_env=False)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert time.monotonic() - started < 1.0

        assert _closed_by_server(sockets[0], 13 - (time.monotonic() - opened))  # half-sent headers
        assert time.monotonic() - opened > 9  # not before the 10 s deadline
        still_open = _open_after(sockets[1:], opened + 14)
        assert not still_open, f"{len(still_open)} connections outlived the header deadline"


def test_a_finished_request_on_a_kept_alive_connection_is_still_answered(tmp_path):
    with _server(tmp_path / "serve.log") as base, httpx.Client(base_url=base, trust_env=False) as client:
        assert client.get("/health").status_code == 200
        time.sleep(0.2)
        assert client.get("/health").status_code == 200


def test_secrets_in_request_urls_never_reach_the_logs(tmp_path):
    log = tmp_path / "serve.log"
    with _server(log) as base:
        queries = ["url=https://alice:hunter2@example.org/a.jpg&api_key=SECRET1&q=cat",
                   "url=https%3A%2F%2Falice%3Ahunter3%40example.org%2Fa.jpg%3Ftoken%3DSECRET2&limit=2"]
        for query in queries:
            httpx.get(f"{base}/search?{query}", timeout=30, trust_env=False)
    text = log.read_text()
    assert '"GET /search?' in text, text  # the access log is still written…
    for secret in ("hunter2", "hunter3", "SECRET1", "SECRET2"):
        assert secret not in text, text  # …without the credentials
    assert "serving 8 items" in text and "Traceback" not in text


def test_a_text_search_is_not_queued_behind_big_uploads():
    from concurrent.futures import ThreadPoolExecutor

    from _big_pictures import GREY, png16
    from _serve_fixtures import serve

    picture = png16(6000, 6000, GREY)  # 300 KB that decode to 36 megapixels
    with serve(shared_collection()) as server, server.client() as client, ThreadPoolExecutor(16) as pool:
        assert client.get("/search", params={"q": "a cat"}).status_code == 200  # the model is loaded
        uploads = [pool.submit(client.post, "/search", files={"image": ("big.png", picture, "image/png")})
                   for _ in range(16)]
        time.sleep(0.3)  # the uploads are being decoded
        started = time.monotonic()
        assert client.get("/search", params={"q": "a cat"}).status_code == 200
        text_seconds = time.monotonic() - started
        assert all(upload.result().status_code == 200 for upload in uploads)
    assert text_seconds < 1.0, f"the text search waited {text_seconds:.1f} s behind picture decoding"
