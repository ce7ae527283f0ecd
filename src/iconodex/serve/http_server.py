"""The HTTP server behind ``iconodex serve``: uvicorn, hardened for a public port.

uvicorn's httptools protocol (the C parser llhttp) on asyncio's event loop, with three changes
(docs/serve.md says why this stack, and not uvloop, and how it measured):

- **A deadline for request headers.** A connection must send complete headers within
  ``HEADER_TIMEOUT_S`` of opening, or of its previous response; otherwise it is closed. Stock
  uvicorn never times out a connection that has not finished a request (slowloris).
- **A bound on their size.** llhttp, unlike h11, sets none: headers still incomplete after
  ``MAX_HEADER_BYTES`` get a 400 and the connection is closed.
- **Idle connections are not requests.** uvicorn's ``limit_concurrency`` counts open connections
  too, so 512 idle sockets turned ``/health`` into a 503; here only requests in flight count.

Beyond that the process raises its open-file limit (each connection is a descriptor), keeps
glibc from growing one malloc arena per thread and hoarding freed picture buffers, runs NumPy's
BLAS on one thread, and keeps its long-lived objects out of the cyclic garbage collector's full
passes (``freeze_long_lived``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import resource
from typing import Any

import uvicorn
from threadpoolctl import threadpool_limits
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..logs import masked_handlers

log = logging.getLogger(__name__)
HEADER_TIMEOUT_S = 10.0
MAX_HEADER_BYTES = 16 * 1024  # h11's default bound, which the server had before
MAX_IN_FLIGHT = 512  # requests being answered at once; more get a 503 (searches queue for 4 threads)
KEEP_ALIVE_S = 10
_MALLOC_ARENAS = 4
_MALLOC_MMAP_BYTES = 8 * 2**20  # larger buffers (decoded pictures) go back to the system when freed
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # glibc's mallopt parameters


class HardenedProtocol(HttpToolsProtocol):
    """httptools with a header deadline and size bound, and a concurrency limit that counts
    requests, not sockets. The deadline is armed while the connection waits for a request's
    headers (since it opened, or since its last response) and disarmed once they are complete."""

    _deadline: asyncio.TimerHandle | None = None
    _in_headers = True  # the next bytes belong to a request's headers (not to a body)
    _header_bytes = 0  # header bytes of the request being received so far
    _headers_done = False  # a request's headers were completed in the chunk being parsed
    _max_in_flight: int | None = None

    # uvicorn refuses a request when connections *or* tasks reach ``limit_concurrency``; reporting
    # the limit only once the tasks (requests in flight) reach it leaves idle sockets out of it.
    @property  # type: ignore[override]
    def limit_concurrency(self) -> int | None:
        limit = self._max_in_flight
        return limit if limit is not None and len(self.tasks) >= limit else None

    @limit_concurrency.setter
    def limit_concurrency(self, value: int | None) -> None:
        self._max_in_flight = value

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_deadline()

    def data_received(self, data: bytes) -> None:
        started_in_headers, self._headers_done = self._in_headers, False
        super().data_received(data)
        # Only a chunk that was all header bytes counts: it began inside a request's headers and
        # completed none. So a pipelined request's headers, which arrive while an earlier one is
        # answered (no deadline armed yet), count too; a body never does.
        if not started_in_headers or self._headers_done or self.transport.is_closing():
            return
        self._header_bytes += len(data)
        if self._header_bytes > MAX_HEADER_BYTES:
            self._disarm_deadline()
            self.send_400_response("Request headers too large.")

    def on_headers_complete(self) -> None:
        self._disarm_deadline()
        self._in_headers, self._headers_done, self._header_bytes = False, True, 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_headers = True  # whatever comes next is the next request's headers
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing() and not self.pipeline:  # a pipelined request has its headers
            self._arm_deadline()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_deadline()
        super().connection_lost(exc)

    def _arm_deadline(self) -> None:
        self._disarm_deadline()
        self._deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._headers_too_slow)

    def _disarm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def server_config(app: Any, host: str, port: int, log_level: str) -> uvicorn.Config:
    """One worker, the hardened protocol, asyncio's loop: uvloop made each search handed to a thread
    cost more CPU (1.13× a ``like``'s; bench_http_stack.py), and searches run in threads."""
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, workers=1, http=HardenedProtocol,
                          loop="asyncio", timeout_keep_alive=KEEP_ALIVE_S,
                          limit_concurrency=MAX_IN_FLIGHT, server_header=False,
                          log_config=masked_handlers(LOGGING_CONFIG))


def run(app: Any, host: str, port: int, log_level: str) -> None:
    """Serve ``app`` until interrupted (one worker; see the module docstring)."""
    _raise_open_files()
    _bound_malloc_retention()
    _one_blas_thread()
    freeze_long_lived()
    try:
        uvicorn.Server(server_config(app, host, port, log_level)).run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown: stopping is normal
        log.info("server stopped")


def freeze_long_lived() -> None:
    """Move the objects made so far (modules, the app, the collection's handles: some 80k when
    serving 100k items) out of the cyclic collector's reach: they live as long as the process, and
    each full collection walked them all, pausing every request for 30–40 ms (on the busy 2-core
    box) about once per 3,000 requests. Requests' own garbage is still collected. ``ModelLoader``
    does the same for the model's objects once loaded, in a process that froze its start-up."""
    gc.collect()  # what start-up left as garbage is freed first, not kept for ever
    gc.freeze()


def _one_blas_thread() -> None:
    """NumPy's BLAS on one thread for the process's life: requests already run in parallel (one
    search thread per core), and a BLAS pool's threads busy-wait after each matrix product against
    them (picture queries, whose model output goes through the offline model's matrix work: half
    the CPU, the same wall time; bench_blas.py). Set from the main thread, the only one OpenBLAS
    takes a thread count from."""
    threadpool_limits(limits=1, user_api="blas")


def _raise_open_files() -> None:
    """Each connection holds a descriptor; the usual soft limit of 1024 would refuse the 1000th."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _bound_malloc_retention() -> None:
    """Few malloc arenas and mmap for big buffers, so memory freed after a large upload returns
    to the system instead of staying with one of many per-thread arenas (glibc only)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, _MALLOC_ARENAS)
        libc.mallopt(_M_MMAP_THRESHOLD, _MALLOC_MMAP_BYTES)
    except (OSError, AttributeError):
        log.debug("not glibc: malloc left as it is")
