"""Where a chunk's pictures and texts are fetched, decoded and embedded.

The pipeline (the coordinator) alone reads pending items and writes the collection; an executor
only turns chunks of work into vectors. ``local`` does it in this process; ``dask`` (see
``cluster.py``) on the workers of a Dask cluster. A new executor is one module that registers a
factory ``(collection, fetcher) -> Executor``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import IconodexError
from ..registry import Registry
from ..store import WorkItem
from .documents import document_text

if TYPE_CHECKING:
    from ..collection import Collection
    from ..config import Settings
    from ..fetch.images import ImageFetcher
    from ..models import Encoder

log = logging.getLogger(__name__)
TEXT_BATCH = 64


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
    """Fetch + decode a chunk's pictures in threads while the model embeds them in batches, then
    embed its texts. ``model`` and ``fetcher`` are called on first need: a chunk with nothing to
    embed loads no model."""

    def __init__(self, model: Callable[[], Encoder], fetcher: Callable[[], ImageFetcher], settings: Settings,
                 text_template: str | None) -> None:
        self._model = model
        self._fetcher = fetcher
        self.settings = settings
        self.text_template = text_template

    def embed(self, work: list[WorkItem]) -> ChunkResult:
        result = ChunkResult()
        self._embed_images([w for w in work if w.need_image and w.item.image], result)
        result.drop_text = self._embed_texts([w for w in work if w.need_text and w.key not in result.failed],
                                             result.vectors)
        return result

    def _embed_images(self, work: list[WorkItem], result: ChunkResult) -> None:
        if not work:
            return
        vectors, failed, hashes = result.vectors, result.failed, result.hashes
        model = self._model()
        batch_keys: list[int] = []
        batch_images: list = []

        def flush() -> None:
            for keys, found in _embed_isolating(model, batch_keys, batch_images, failed):
                for space, matrix in found.items():
                    vectors.setdefault(space, {}).update(zip(keys, matrix, strict=True))
            batch_keys.clear()
            batch_images.clear()

        refs = [w.item.image for w in work]
        fit = getattr(model, "fit_image", None)  # resize + crop in the fetch threads when the model allows
        for position, outcome in self._fetcher().fetch_many(refs, workers=_fetch_workers(refs, self.settings.workers),
                                                            transform=fit):
            key = work[position].key
            if isinstance(outcome, BaseException):
                failed[key] = str(outcome) or type(outcome).__name__
                continue
            hashes[key] = outcome.content_hash
            batch_keys.append(key)
            batch_images.append(outcome.image)
            if len(batch_images) >= self.settings.batch_size:
                flush()
        if batch_images:
            flush()

    def _embed_texts(self, work: list[WorkItem], vectors: dict) -> list[int]:
        documents = [(w.key, document_text(w.item, self.text_template)) for w in work]
        with_text = [(key, text) for key, text in documents if text]
        for start in range(0, len(with_text), TEXT_BATCH):
            batch = with_text[start:start + TEXT_BATCH]
            matrix = self._model().embed_texts([text for _, text in batch], query=False)
            vectors.setdefault("text", {}).update(zip([key for key, _ in batch], matrix, strict=True))
        return [key for key, text in documents if not text]


class LocalExecutor:
    """Embeds each chunk in this process, one after the other (the default)."""

    def __init__(self, collection: Collection, fetcher: ImageFetcher | None = None) -> None:
        # The collection's fetcher loads the model, so it is only asked for when a picture needs it.
        self.embedder = ChunkEmbedder(lambda: collection.model, lambda: fetcher or collection.fetcher,
                                      collection.settings, collection.text_template)

    def embed_chunks(self, chunks: Iterable[list[WorkItem]]) -> Iterator[tuple[list[WorkItem], ChunkResult]]:
        for work in chunks:
            yield work, self.embedder.embed(work)

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


def _embed_isolating(model, keys: list[int], images: list, failed: dict[int, str]) -> list[tuple[list[int], dict]]:
    """Embed a batch; if it fails, embed one by one so a single bad picture fails alone."""
    try:
        return [(list(keys), model.embed_images(images))]
    except Exception:
        log.debug("batch failed; isolating the bad picture", exc_info=True)
    done = []
    for key, image in zip(keys, images, strict=True):
        try:
            done.append(([key], model.embed_images([image])))
        except Exception as exc:
            failed[key] = f"embed: {exc}" if isinstance(exc, IconodexError) else f"embed: {type(exc).__name__}: {exc}"
    return done
