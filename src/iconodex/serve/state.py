"""What every request handler shares: the collection, the settings, the model loader, the guarded
fetcher and the pool that runs CPU-bound work off the event loop."""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import anyio
from fastapi import Request

from ..collection import Collection
from ..fetch.guard import GuardedFetcher
from .errors import ApiError
from .settings import ServeSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_AFTER_S = "5"
# Clients' pictures fetched and decoded at once: half the cores at most, so decoding big uploads
# leaves CPU for searches (memory is bounded apart, by fetch.decode.DECODE_BUDGET).
PICTURE_THREADS = max(1, min(4, (os.cpu_count() or 2) // 2))


class ModelLoader:
    """Loads the collection's model in a background thread and remembers how that went, so
    ``/health`` can say ``loading``/``ready``/``failed`` instead of hanging or lying."""

    def __init__(self, coll: Collection, enabled: bool = True) -> None:
        self._coll = coll
        self.enabled = enabled
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.enabled or self._coll.model_loaded or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._load, name="iconodex-model-load", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            self._coll.model  # noqa: B018 - the property loads and checks the model
            log.info("model %s ready", self._coll.model_name)
            if gc.get_freeze_count():  # the process froze its start-up objects: the model's live as long
                gc.freeze()
        except Exception as exc:  # kept for /health and 503 answers; the server keeps serving `like`
            self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("model %s failed to load: %s", self._coll.model_name, self.error)

    @property
    def status(self) -> str:
        if self._coll.model_loaded:
            return "ready"
        if not self.enabled:
            return "off"
        return "failed" if self.error else "loading"

    def require(self) -> None:
        """Raise a 503 unless text and picture queries can be answered now."""
        if self._coll.model_loaded:
            return
        if not self.enabled:
            raise ApiError(503, "this server answers like= queries only (started without the model)")
        if self.error:
            raise ApiError(503, f"the model could not be loaded ({self.error}); only like= queries work")
        raise ApiError(503, "the model is still loading; retry in a few seconds (like= queries work now)",
                       {"Retry-After": RETRY_AFTER_S})


class IndexKeeper:
    """Rebuilds a damaged or missing index space from the store in a background thread. Searches
    meanwhile are answered exactly from the store (see ``index/guard.py``); ``/health`` says which
    spaces are affected and why. A read-only server keeps its rebuilt index in memory only."""

    def __init__(self, coll: Collection) -> None:
        self._coll = coll
        self._waiting: set[str] = set()
        self._busy: str | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.failed: dict[str, str] = {}

    def start(self) -> None:
        """Check every space's file in the background (a checksum pass), rebuild what fails and
        prepare the sound ones for reads (``CheckedEngine.warm``)."""
        self._coll.engine.on_damage = self.schedule
        threading.Thread(target=self._check, name="iconodex-index-check", daemon=True).start()

    def _check(self) -> None:
        for space in self._coll.engine.check():
            self.schedule(space)
        self._coll.engine.warm()

    def schedule(self, space: str) -> None:
        with self._lock:
            if space in self._waiting or space == self._busy or space in self.failed:
                return
            self._waiting.add(space)
            if self._thread is None:
                self._thread = threading.Thread(target=self._rebuild, name="iconodex-index-rebuild", daemon=True)
                self._thread.start()

    def _rebuild(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._busy = self._thread = None
                    return
                self._busy = self._waiting.pop()
            space = self._busy
            try:
                problem = self._coll.engine.problems().get(space)
                if problem:  # not repaired meanwhile by another process
                    log.warning("index of space %s: %s; rebuilding it from the store (searches of it are "
                                "exact meanwhile)", space, problem)
                    self._coll.engine.rebuild(space, save=not self._coll.read_only)
                    log.warning("index of space %s rebuilt%s", space, "" if not self._coll.read_only else
                                " in memory (a read-only server does not save it: run iconodex repair)")
            except Exception as exc:  # kept for /health; searches stay exact
                self.failed[space] = str(exc) or type(exc).__name__
                log.error("rebuilding the index of space %s failed: %s", space, self.failed[space])

    def status(self) -> dict[str, object]:
        problems = self._coll.engine.problems()
        if not problems:
            return {"state": "ok"}
        with self._lock:
            rebuilding = bool(self._waiting or self._busy) and not set(problems) <= set(self.failed)
        return {"state": "rebuilding" if rebuilding else "degraded", "exact_search": sorted(problems),
                "problems": {space: self.failed.get(space, why) for space, why in problems.items()}}


class ServerState:
    def __init__(self, coll: Collection, settings: ServeSettings) -> None:
        self.coll = coll
        self.settings = settings
        self.loader = ModelLoader(coll, settings.load_model)
        self.keeper = IndexKeeper(coll)
        self.fetcher = GuardedFetcher(max_bytes=settings.max_upload_bytes, timeout=settings.fetch_timeout,
                                      allow_hosts=settings.fetch_allow_hosts)
        self._limiters: dict[str, anyio.CapacityLimiter] = {}

    async def run(self, func: Callable[..., T], *args: object, **kwargs: object) -> T:
        """``func(*args, **kwargs)`` in a worker thread, at most ``search_threads`` at once, within
        ``request_timeout`` (a 504 after that; the thread finishes on its own)."""
        return await self._bounded("search", self.settings.search_threads, partial(func, *args, **kwargs))

    async def run_picture(self, func: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Like ``run``, for reading a client's picture: in a pool of its own, so big uploads and
        slow image URLs wait for each other, never in place of text searches."""
        return await self._bounded("picture", PICTURE_THREADS, partial(func, *args, **kwargs))

    async def _bounded(self, pool: str, threads: int, call: Callable[[], T]) -> T:
        if pool not in self._limiters:  # made lazily: it must belong to the running event loop
            self._limiters[pool] = anyio.CapacityLimiter(threads)
        with anyio.move_on_after(self.settings.request_timeout):
            return await anyio.to_thread.run_sync(call, limiter=self._limiters[pool], abandon_on_cancel=True)
        raise ApiError(504, f"the request took longer than {self.settings.request_timeout:g} s")

    async def run_unbounded(self, func: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Long work (an ingest) in a worker thread, outside the search pool and its deadline."""
        return await anyio.to_thread.run_sync(partial(func, *args, **kwargs))

    def close(self) -> None:
        self.fetcher.close()


def state_of(request: Request) -> ServerState:
    return request.app.state.iconodex
