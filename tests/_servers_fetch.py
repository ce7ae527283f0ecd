"""Real HTTP servers on 127.0.0.1 for the fetch tests: a scripted one and the IIIF reference one."""

from __future__ import annotations

import io
import shutil
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from _net import free_port, running
from PIL import Image


@dataclass
class Reply:
    """One scripted answer. ``trickle`` sends the body one byte every ``trickle`` seconds;
    ``etag`` makes the server answer 304 to a matching ``If-None-Match``; ``endless`` repeats the
    body until the client hangs up (no Content-Length, the connection closes at the end)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    trickle: float | None = None
    etag: str | None = None
    endless: bool = False


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    at: float


class ScriptedServer:
    """``route(path, *replies)``: the n-th request to ``path`` gets the n-th reply (the last one
    repeats); a path routed without a query answers every query. Every request is recorded in ``hits``."""

    def __init__(self, port: int = 0) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.hits: list[Hit] = []
        self._count: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), partial(_ScriptedHandler, self))
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda *args: None  # clients that hang up early are the point of some tests
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"

    def route(self, path: str, *replies: Reply) -> str:
        self.routes[path] = list(replies)
        return self.base + path

    def hits_for(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    def next_reply(self, path: str, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.hits.append(Hit(path, headers, time.monotonic()))
            replies = self.routes.get(path) or self.routes.get(path.split("?")[0]) or [Reply(404, b"not found")]
            index = min(self._count[path], len(replies) - 1)
            self._count[path] += 1
            return replies[index]


class _ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, server_state: ScriptedServer, *args, **kwargs) -> None:
        self.state = server_state
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        reply = self.state.next_reply(self.path, dict(self.headers))
        time.sleep(reply.delay)
        if reply.etag and self.headers.get("If-None-Match") == reply.etag:
            self.send_response(304)
            self.send_header("ETag", reply.etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.etag:
            self.send_header("ETag", reply.etag)
        if reply.endless:
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self._write_body(reply)

    def _write_body(self, reply: Reply) -> None:
        try:
            while reply.endless:
                self.wfile.write(reply.body)
            if reply.trickle is None:
                self.wfile.write(reply.body)
                return
            for byte in reply.body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(reply.trickle)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def scripted_server(port: int = 0) -> Iterator[ScriptedServer]:
    server = ScriptedServer(port)
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@contextmanager
def static_server(root: Path) -> Iterator[str]:
    """Serve ``root`` as plain files (a static level-0 IIIF site) on 127.0.0.1."""
    handler = partial(_QuietFiles, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def iiif_script(name: str) -> Path | None:
    """A script installed by the PyPI ``iiif`` package (``iiif_testserver.py``, ``iiif_static.py``)."""
    found = shutil.which(name) or (Path(sys.executable).parent / name)
    path = Path(found)
    return path if path.is_file() else None


@contextmanager
def iiif_reference_server(image_dir: Path) -> Iterator[str]:
    """The IIIF reference implementation (``iiif_testserver.py``) on 127.0.0.1, serving
    ``image_dir`` for Image API 1.1, 2.1 and 3.0 at ``{base}/{version}_pil/{identifier}``."""
    script = iiif_script("iiif_testserver.py")
    assert script is not None, "the iiif package is a dev dependency"
    port = free_port()
    command = [
        sys.executable, str(script), "--host", "127.0.0.1", "--port", str(port), "--image-dir", str(image_dir),
        "--api-versions", "1.1,2.1,3.0", "--manipulators", "pil", "--quiet",
    ]
    base = f"http://127.0.0.1:{port}"
    with running(command, f"{base}/3.0_pil/", "iiif_testserver.py", cwd=image_dir):  # its pid file lands there
        yield base




@dataclass
class Served:
    """One answer a ``RecordingProxy`` passed on: the path asked, the status, the bytes and, for a
    picture, its pixel size as decoded from those bytes."""

    path: str
    status: int
    size_bytes: int
    pixels: tuple[int, int] | None


class RecordingProxy:
    """A loopback reverse proxy in front of a real image server that records what it served,
    so a test can count requests, bytes and pixels without trusting the client's account."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.served: list[Served] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_ProxyHandler, self))
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def record(self, path: str, status: int, body: bytes) -> None:
        with self._lock:
            self.served.append(Served(path, status, len(body), _pixels(body)))

    def pictures(self) -> list[Served]:
        return [answer for answer in self.served if answer.pixels is not None]


def _pixels(body: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(body)) as image:
            return image.size
    except OSError:
        return None


_CONDITIONAL = {"if-none-match", "if-modified-since"}


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def __init__(self, proxy: RecordingProxy, *args, **kwargs) -> None:
        self.proxy = proxy
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        passed = {name: value for name, value in self.headers.items() if name.lower() in _CONDITIONAL}
        answer = httpx.get(self.proxy.upstream + self.path, headers=passed, timeout=20, trust_env=False)
        self.proxy.record(self.path, answer.status_code, answer.content)
        self.send_response(answer.status_code)
        for name in ("Content-Type", "ETag", "Last-Modified"):
            if name in answer.headers:
                self.send_header(name, answer.headers[name])
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def recording_proxy(upstream: str) -> Iterator[RecordingProxy]:
    proxy = RecordingProxy(upstream)
    thread = threading.Thread(target=proxy.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.httpd.shutdown()
        proxy.httpd.server_close()
