"""Where a chunk's pictures and texts are fetched, decoded and embedded.

The pipeline (the coordinator) alone reads pending items and writes the collection; an executor
only turns chunks of work into vectors. ``local`` does it in this process; ``dask`` (see
``cluster.py``) on the workers of a Dask cluster. A new executor is one module that registers a
factory ``(collection, fetcher) -> Executor``.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import IconodexError
from ..fetch.prefetch import Prefetch
from ..registry import Registry
from ..store import WorkItem
from .documents import document_text

if TYPE_CHECKING:
    from PIL import Image

    from ..collection import Collection
    from ..config import Settings
    from ..fetch.images import ImageFetcher
    from ..models import Encoder

log = logging.getLogger(__name__)
TEXT_BATCH = 64
CHUNKS_AHEAD = 1  # chunks read and queued beyond the one being embedded
AHEAD = 128  # decoded pictures waiting at most (~150 KB each once fitted to a model): bounds memory


@dataclass
class ChunkResult:
    """What embedding one chunk gave: vectors by space and key, and the keys that failed, with why."""

    vectors: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    hashes: dict[int, str] = field(default_factory=dict)  # content hash of each fetched picture
    drop_text: list[int] = field(default_factory=list)  # keys whose text became empty

    def __getstate__(self) -> dict:
        """Pickled (sent back by a cluster worker) as one matrix per space rather than one small
        array per item: a few large buffers travel faster than many small ones (bench_cluster.py)."""
        state = dict(self.__dict__)
        state["vectors"] = {space: (np.fromiter(by_key, np.int64, len(by_key)), np.stack(list(by_key.values())))
                            for space, by_key in self.vectors.items() if by_key}
        return state

    def __setstate__(self, state: dict) -> None:
        state["vectors"] = {space: dict(zip(keys.tolist(), matrix, strict=True))
                            for space, (keys, matrix) in state["vectors"].items()}
        self.__dict__.update(state)


class Executor(Protocol):
    def embed_chunks(self, chunks: Iterable[list[WorkItem]]) -> Iterator[tuple[list[WorkItem], ChunkResult]]:
        """Embed each chunk; yield it with its result, in any order, each chunk exactly once."""
        ...

    def close(self) -> None: ...


ExecutorFactory = Callable[["Collection", "ImageFetcher | None"], Executor]
EXECUTORS: Registry[ExecutorFactory] = Registry("executor")
EXECUTORS.register_lazy("dask", "iconodex.ingest.cluster")


class ChunkEmbedder:
    """Fetch + decode chunks' pictures in threads while the model embeds them in batches, then embed
    each chunk's texts. Over a stream of chunks, the next chunk's pictures are fetched and decoded
    while the current one's are embedded, its texts embedded and its result committed. ``model`` and
    ``fetcher`` are called on first need: a chunk with nothing to embed loads no model."""

    def __init__(self, model: Callable[[], Encoder], fetcher: Callable[[], ImageFetcher], settings: Settings,
                 text_template: str | None) -> None:
        self.model = model
        self.fetcher = fetcher
        self.settings = settings
        self.text_template = text_template

    def embed(self, work: list[WorkItem]) -> ChunkResult:
        """One chunk (a cluster worker's task)."""
        ((_, result),) = self.embed_chunks([work])
        return result

    def embed_chunks(self, chunks: Iterable[list[WorkItem]]) -> Iterator[tuple[list[WorkItem], ChunkResult]]:
        """Each chunk with its result, in order, each once. The chunk after the current one is read
        from ``chunks`` (and its pictures queued) before the current one is yielded."""
        pending = iter(chunks)
        open_chunks: deque[_OpenChunk] = deque()
        stream = _PictureStream(self)
        try:
            for _ in range(1 + CHUNKS_AHEAD):
                stream.open(next(pending, None), open_chunks)
            while open_chunks:
                head = open_chunks[0]
                stream.finish_pictures(head)
                head.result.drop_text = self._embed_texts(head.texts(), head.result.vectors)
                open_chunks.popleft()
                stream.open(next(pending, None), open_chunks)
                yield head.work, head.result
        finally:
            stream.close()

    def _embed_texts(self, work: list[WorkItem], vectors: dict) -> list[int]:
        documents = [(w.key, document_text(w.item, self.text_template)) for w in work]
        with_text = [(key, text) for key, text in documents if text]
        for start in range(0, len(with_text), TEXT_BATCH):
            batch = with_text[start:start + TEXT_BATCH]
            matrix = self.model().embed_texts([text for _, text in batch], query=False)
            vectors.setdefault("text", {}).update(zip([key for key, _ in batch], matrix, strict=True))
        return [key for key, text in documents if not text]


@dataclass(eq=False)  # compared and hashed by identity: a prefetch tag
class _OpenChunk:
    """A chunk whose pictures are on their way; ``waiting`` counts those not back yet."""

    work: list[WorkItem]
    result: ChunkResult = field(default_factory=ChunkResult)
    waiting: int = 0

    def pictures(self) -> list[WorkItem]:
        return [w for w in self.work if w.need_image and w.item.image]

    def texts(self) -> list[WorkItem]:
        return [w for w in self.work if w.need_text and w.key not in self.result.failed]


class _PictureStream:
    """The pictures of the open chunks: fetched by a ``Prefetch`` (started with the first chunk that
    has any), embedded in batches that may span two chunks, each vector filed under its own chunk."""

    def __init__(self, embedder: ChunkEmbedder) -> None:
        self.embedder = embedder
        self.batch_size = embedder.settings.batch_size
        self._prefetch: Prefetch | None = None
        self._batch: list[tuple[_OpenChunk, int, Image.Image]] = []

    def open(self, work: list[WorkItem] | None, open_chunks: deque[_OpenChunk]) -> None:
        if work is None:
            return
        chunk = _OpenChunk(work)
        pictures = chunk.pictures()
        chunk.waiting = len(pictures)
        if pictures:
            self._started(pictures).submit(((chunk, w.key), w.item.image) for w in pictures)
        open_chunks.append(chunk)

    def finish_pictures(self, head: _OpenChunk) -> None:
        """Take outcomes (of any open chunk) until every picture of ``head`` is back and embedded."""
        while head.waiting:
            (chunk, key), outcome = self._prefetch.take()  # type: ignore[union-attr]  # started: head waits
            chunk.waiting -= 1
            if isinstance(outcome, BaseException):
                chunk.result.failed[key] = str(outcome) or type(outcome).__name__
                continue
            chunk.result.hashes[key] = outcome.content_hash
            self._batch.append((chunk, key, outcome.image))
            if len(self._batch) >= self.batch_size:
                self._flush()
        if any(chunk is head for chunk, _, _ in self._batch):
            self._flush()

    def close(self) -> None:
        if self._prefetch is not None:
            self._prefetch.close()

    def _started(self, pictures: list[WorkItem]) -> Prefetch:
        if self._prefetch is None:
            fetcher, model = self.embedder.fetcher(), self.embedder.model()
            fit = getattr(model, "fit_image", None)  # resize + crop in the fetch threads when the model allows
            fetch = fetcher.fetch if fit is None else partial(fetcher.fetch_fitted, transform=fit)
            workers = _fetch_workers([w.item.image for w in pictures], self.embedder.settings.workers)
            self._prefetch = Prefetch(fetch, workers, max(2 * workers, AHEAD))
        return self._prefetch

    def _flush(self) -> None:
        entries, self._batch = self._batch, []
        done, failures = _embed_isolating(self.embedder.model(), [image for _, _, image in entries])
        for position, reason in failures.items():
            chunk, key, _ = entries[position]
            chunk.result.failed[key] = reason
        for positions, found in done:
            for space, matrix in found.items():
                for position, row in zip(positions, matrix, strict=True):
                    chunk, key, _ = entries[position]
                    chunk.result.vectors.setdefault(space, {})[key] = row


class LocalExecutor:
    """Embeds each chunk in this process, one after the other (the default)."""

    def __init__(self, collection: Collection, fetcher: ImageFetcher | None = None) -> None:
        # The collection's fetcher loads the model, so it is only asked for when a picture needs it.
        self.embedder = ChunkEmbedder(lambda: collection.model, lambda: fetcher or collection.fetcher,
                                      collection.settings, collection.text_template)

    def embed_chunks(self, chunks: Iterable[list[WorkItem]]) -> Iterator[tuple[list[WorkItem], ChunkResult]]:
        return self.embedder.embed_chunks(chunks)

    def close(self) -> None:
        pass


EXECUTORS.register("local", LocalExecutor)


@contextmanager
def open_executor(name: str, collection: Collection, fetcher: ImageFetcher | None = None) -> Iterator[Executor]:
    """The executor registered as ``name``, closed afterwards (a cluster's is connected now, so an
    unreachable scheduler is reported before any harvest)."""
    executor = EXECUTORS.get(name)(collection, fetcher)
    try:
        yield executor
    finally:
        executor.close()


def _fetch_workers(refs: list, configured: int) -> int:
    """Threads for a chunk. Network fetches wait, so many threads hide latency; local files are
    pure CPU work, where more threads than about two per core only fight the model for cores
    (on 2 cores: 103 items/s with 4 threads, 87 with 8)."""
    if all(ref.kind == "path" for ref in refs):
        return max(1, min(configured, 2 * (os.cpu_count() or 2)))
    return configured


def _embed_isolating(model: Encoder, images: list[Image.Image]) -> tuple[list[tuple[list[int], dict]], dict[int, str]]:
    """Embed a batch; if it fails, embed one by one so a single bad picture fails alone. Returns
    (positions, vectors by space) per model call, and the reason for each position that failed."""
    try:
        return [(list(range(len(images))), model.embed_images(images))], {}
    except Exception:
        log.debug("batch failed; isolating the bad picture", exc_info=True)
    done, failed = [], {}
    for position, image in enumerate(images):
        try:
            done.append(([position], model.embed_images([image])))
        except Exception as exc:
            failed[position] = f"embed: {exc}" if isinstance(exc, IconodexError) else f"embed: {type(exc).__name__}: {exc}"
    return done, failed
