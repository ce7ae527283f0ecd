"""A minimal Hugging Face hub on 127.0.0.1: ``/{repo}/resolve/{revision}/{file}`` with HEAD, GET, Range.

It speaks the part of the hub protocol ``hf_hub_download`` uses (``X-Repo-Commit``, ``ETag``,
``Content-Length``, 206 partial content), so downloads, resumes and missing files are exercised
against real HTTP instead of a patched client.
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PATH = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")


class FakeHub:
    def __init__(self, revision: str) -> None:
        self.revision = revision
        self.repos: dict[str, dict[str, bytes]] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.cut_once: set[str] = set()  # files whose first GET drops the connection half-way


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def _lookup(self) -> bytes | None:
            match = _PATH.match(self.path.split("?")[0])
            if not match:
                return None
            return hub.repos.get(match["repo"], {}).get(match["file"])

        def _headers(self, data: bytes, status: int, length: int) -> None:
            self.send_response(status)
            self.send_header("X-Repo-Commit", hub.revision)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(length))
            self.end_headers()

        def do_HEAD(self) -> None:  # noqa: N802 - the http.server naming
            hub.requests.append(("HEAD", self.path, None))
            data = self._lookup()
            if data is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._headers(data, 200, len(data))

        def do_GET(self) -> None:  # noqa: N802
            wanted = self.headers.get("Range")
            hub.requests.append(("GET", self.path, wanted))
            data = self._lookup()
            if data is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(re.match(r"bytes=(\d+)-", wanted)[1]) if wanted else 0
            body = data[start:]
            self._headers(data, 206 if wanted else 200, len(body))
            name = self.path.rsplit("/resolve/", 1)[-1].split("/", 1)[-1]
            if name in hub.cut_once:
                hub.cut_once.discard(name)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # a network outage mid-transfer
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@contextmanager
def fake_hub(revision: str) -> Iterator[tuple[FakeHub, str]]:
    """Serve a FakeHub; yields it and its base URL (for ``HF_ENDPOINT``)."""
    hub = FakeHub(revision)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
