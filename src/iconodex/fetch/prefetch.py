"""Fetch and decode pictures in the background, a bounded number ahead of the thread that uses them.

``ImageFetcher.fetch_many`` works only while its caller pulls from it. Ingest wants more: while the
model embeds one chunk (and its texts, and the pipeline commits it), the next chunk's pictures should
already be downloading and decoding. A ``Prefetch`` takes pictures as they are submitted, tagged by
the caller, and keeps ``ahead`` of them in flight or finished but not yet taken, whatever the caller
is busy with; ``take`` hands back each one's outcome once, in completion order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from ..errors import IconodexError
from ..records import ImageRef
from .images import FetchedImage, settle

Outcome = FetchedImage | IconodexError
_STOP = None


class Prefetch:
    """``submit((tag, ref), …)`` queues pictures; ``take()`` returns ``(tag, outcome)`` for each, once.

    ``fetch`` runs in ``workers`` threads; a feeder thread hands them work while fewer than ``ahead``
    outcomes are in flight or waiting to be taken, so memory stays bounded however far the caller
    falls behind. ``close`` stops feeding and drops what was not taken (a failed or cancelled run).
    """

    def __init__(self, fetch: Callable[[ImageRef], FetchedImage], workers: int, ahead: int) -> None:
        self._fetch = fetch
        self._todo: queue.SimpleQueue[tuple[Hashable, ImageRef] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[Hashable, Outcome]] = queue.SimpleQueue()
        self._room = threading.Semaphore(max(1, ahead))
        self._closed = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fetch")
        self._feeder = threading.Thread(target=self._feed, name="prefetch", daemon=True)
        self._feeder.start()

    def submit(self, tagged: Iterable[tuple[Hashable, ImageRef]]) -> None:
        for entry in tagged:
            self._todo.put(entry)

    def take(self, *, wait: bool = True) -> tuple[Hashable, Outcome] | None:
        """The next finished picture; blocks until one is, or with ``wait=False`` is None if none is yet."""
        try:
            tag, outcome = self._done.get(block=wait)
        except queue.Empty:
            return None
        self._room.release()
        return tag, outcome

    def close(self) -> None:
        self._closed.set()
        self._todo.put(_STOP)
        self._room.release()  # a feeder waiting for room wakes up and sees the stop
        self._feeder.join()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _feed(self) -> None:
        while (entry := self._todo.get()) is not _STOP:
            self._room.acquire()
            if self._closed.is_set():
                return
            tag, ref = entry
            self._pool.submit(self._fetch, ref).add_done_callback(lambda future, tag=tag: self._finish(tag, future))

    def _finish(self, tag: Hashable, future: Future[FetchedImage]) -> None:
        if not future.cancelled():
            self._done.put((tag, settle(future)))
