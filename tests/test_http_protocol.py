"""The HTTP protocol ``iconodex serve`` runs: httptools' C parser on asyncio's loop, with the hardening
the server had on h11 (a deadline for request headers, a bound on their size, a concurrency limit
that counts requests rather than sockets). A real uvicorn server on loopback, a deadline shortened
so the tests wait a second rather than ten."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
import uvicorn
from _net import free_port, wait_until_up
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from iconodex.serve import http_server

DEADLINE_S = 1.0


async def _ok(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(DEADLINE_S)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def _serving(monkeypatch: pytest.MonkeyPatch, limit: int = 512) -> Iterator[int]:
    monkeypatch.setattr(http_server, "HEADER_TIMEOUT_S", DEADLINE_S)
    monkeypatch.setattr(http_server, "MAX_IN_FLIGHT", limit)
    port = free_port()
    server = uvicorn.Server(http_server.server_config(_ok, "127.0.0.1", port, "warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until_up(f"http://127.0.0.1:{port}/")
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_the_server_parses_http_with_httptools_on_asyncio_s_loop():
    config = http_server.server_config(_ok, "127.0.0.1", 0, "warning")
    config.load()
    assert issubclass(config.http_protocol_class, HttpToolsProtocol)
    assert config.loop == "asyncio"  # not uvloop: it made a search handed to a thread cost more


def test_half_sent_headers_are_closed_at_the_deadline_not_before(monkeypatch):
    with _serving(monkeypatch) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        opened = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert _closed_within(sock, DEADLINE_S + 2)
        assert time.monotonic() - opened >= DEADLINE_S * 0.9


def test_an_idle_kept_alive_connection_is_closed_at_the_deadline_and_a_quick_one_answered(monkeypatch):
    with _serving(monkeypatch) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
        assert client.get("/").text == "ok"
        time.sleep(DEADLINE_S / 4)
        assert client.get("/").text == "ok"  # the same connection, within the deadline
    with _serving(monkeypatch) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _closed_within(sock, DEADLINE_S + 2)  # answered, then closed once idle past the deadline


def test_idle_sockets_do_not_count_against_the_request_limit(monkeypatch):
    with _serving(monkeypatch, limit=4) as port, ExitStack() as stack:
        for _ in range(12):
            stack.enter_context(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.2)
        answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=5, trust_env=False)
        assert answer.status_code == 200


def test_oversized_request_headers_are_refused_and_the_connection_closed(monkeypatch):
    with _serving(monkeypatch) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (http_server.MAX_HEADER_BYTES + 1024))
        sock.settimeout(5)
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
        assert _closed_within(sock, 2)


def test_oversized_headers_of_a_pipelined_request_are_refused_while_the_first_is_answered(monkeypatch):
    with _serving(monkeypatch) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.1)  # the first request is being answered: no deadline runs for the next one yet
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (http_server.MAX_HEADER_BYTES + 1024))
        sock.settimeout(5)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        assert b"HTTP/1.1 400" in answer, answer[:200]


def test_pipelined_requests_with_bodies_are_all_answered(monkeypatch):
    body = b"x" * 3000
    post = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3000\r\n\r\n" + body
    with _serving(monkeypatch) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(post * 8)  # 24 KB in one go: bodies are not header bytes
        sock.settimeout(5)
        answer = b""
        while answer.count(b"HTTP/1.1 200") < 8:
            chunk = sock.recv(65536)
            assert chunk, answer[-200:]
            answer += chunk
        assert b"400" not in answer


def test_a_big_body_sent_with_its_headers_is_not_taken_for_big_headers(monkeypatch):
    body = b"x" * (4 * http_server.MAX_HEADER_BYTES)
    with _serving(monkeypatch) as port:
        answer = httpx.post(f"http://127.0.0.1:{port}/", content=body, timeout=5, trust_env=False)
        assert answer.status_code == 200 and answer.text == "ok"
