"""Turn chunks of work into vectors: pictures fetched and decoded in threads, embedded in batches, and
each chunk's catalogue texts embedded whenever the model would otherwise wait for a picture.

Over a stream of chunks the work never drains between them: the next chunk's pictures are fetched
and decoded (``Prefetch``) while the current one's are embedded, its texts embedded and its result
committed by the caller; a model batch may hold the end of one chunk and the start of the next.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..errors import IconodexError
from ..fetch.prefetch import Prefetch
from ..store import WorkItem
from .blas import one_blas_thread
from .documents import document_text

if TYPE_CHECKING:
    from PIL import Image

    from ..config import Settings
    from ..fetch.images import ImageFetcher
    from ..models import Encoder

log = logging.getLogger(__name__)
TEXT_BATCH = 64
CHUNKS_AHEAD = 1  # chunks read and queued beyond the one being embedded
AHEAD = 128  # pictures fetched ahead at most (~150 KB each once fitted to a model): bounds memory


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

    def forget_failed_texts(self) -> None:
        """A failed item keeps nothing of this run, its text included (it is retried whole)."""
        texts = self.vectors.get("text", {})
        for key in self.failed:
            texts.pop(key, None)
        self.drop_text = [key for key in self.drop_text if key not in self.failed]


class ChunkEmbedder:
    """Embeds chunks of work (see the module docstring). ``model`` and ``fetcher`` are called on first
    need: a chunk with nothing to embed loads no model."""

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
        stream = _ChunkStream(self)
        try:
            with one_blas_thread():  # see blas.py: this stream's threads already fill the cores
                for _ in range(1 + CHUNKS_AHEAD):
                    stream.open(next(pending, None))
                while stream.chunks:
                    head = stream.finish_head()
                    stream.open(next(pending, None))
                    yield head.work, head.result
        finally:
            stream.close()


@dataclass(eq=False)  # compared and hashed by identity: it tags its pictures in the prefetch
class _OpenChunk:
    """A chunk being embedded: ``waiting`` pictures not back yet, ``texts`` (key, text) not embedded yet."""

    work: list[WorkItem]
    texts: list[tuple[int, str]]
    result: ChunkResult = field(default_factory=ChunkResult)
    waiting: int = 0


class _ChunkStream:
    """The open chunks, their pictures in a ``Prefetch`` (started with the first chunk that has any),
    a model batch that may span two chunks, each vector filed under its own chunk."""

    def __init__(self, embedder: ChunkEmbedder) -> None:
        self.embedder = embedder
        self.chunks: deque[_OpenChunk] = deque()
        self._prefetch: Prefetch | None = None
        self._batch: list[tuple[_OpenChunk, int, Image.Image]] = []

    def open(self, work: list[WorkItem] | None) -> None:
        if work is None:
            return
        documents = [(w.key, document_text(w.item, self.embedder.text_template)) for w in work if w.need_text]
        chunk = _OpenChunk(work, texts=[(key, text) for key, text in documents if text])
        chunk.result.drop_text = [key for key, text in documents if not text]
        pictures = [w for w in work if w.need_image and w.item.image]
        chunk.waiting = len(pictures)
        if pictures:
            self._started(pictures).submit(((chunk, w.key), w.item.image) for w in pictures)
        self.chunks.append(chunk)

    def finish_head(self) -> _OpenChunk:
        """Embed the first open chunk's pictures as they come back (and any open chunk's texts while
        none is ready), then the rest of its texts; returns it, closed."""
        head = self.chunks[0]
        while head.waiting:
            taken = self._prefetch.take(wait=False)  # type: ignore[union-attr]  # head waits: it is started
            if taken is None and self._embed_text_batch():
                continue
            self._file(*(taken or self._prefetch.take()))  # type: ignore[union-attr]
        if any(chunk is head for chunk, _, _ in self._batch):
            self._flush()
        while self._embed_text_batch(head):
            pass
        head.result.forget_failed_texts()
        return self.chunks.popleft()

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

    def _file(self, tag: tuple[_OpenChunk, int], outcome: object) -> None:
        chunk, key = tag
        chunk.waiting -= 1
        if isinstance(outcome, BaseException):
            chunk.result.failed[key] = str(outcome) or type(outcome).__name__
            return
        chunk.result.hashes[key] = outcome.content_hash  # type: ignore[attr-defined]
        self._batch.append((chunk, key, outcome.image))  # type: ignore[attr-defined]
        if len(self._batch) >= self.embedder.settings.batch_size:
            self._flush()

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

    def _embed_text_batch(self, only: _OpenChunk | None = None) -> bool:
        """Embed one batch of texts (of ``only``, else of the first open chunk with any); False if none."""
        chunk = only if only is not None else next((c for c in self.chunks if c.texts), None)
        if chunk is None or not chunk.texts:
            return False
        batch, chunk.texts = chunk.texts[:TEXT_BATCH], chunk.texts[TEXT_BATCH:]
        matrix = self.embedder.model().embed_texts([text for _, text in batch], query=False)
        chunk.result.vectors.setdefault("text", {}).update(zip([key for key, _ in batch], matrix, strict=True))
        return True


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
