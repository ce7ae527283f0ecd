"""Where a chunk's pictures and texts are fetched, decoded and embedded.

The pipeline (the coordinator) alone reads pending items and writes the collection; an executor
only turns chunks of work into vectors (``embedder.py``). ``local`` does it in this process;
``dask`` (see ``cluster.py``) on the workers of a Dask cluster. A new executor is one module that
registers a factory ``(collection, fetcher) -> Executor``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from ..registry import Registry
from ..store import WorkItem
from .embedder import ChunkEmbedder, ChunkResult

if TYPE_CHECKING:
    from ..collection import Collection
    from ..fetch.images import ImageFetcher

__all__ = ["EXECUTORS", "ChunkEmbedder", "ChunkResult", "Executor", "LocalExecutor", "open_executor"]


class Executor(Protocol):
    def embed_chunks(self, chunks: Iterable[list[WorkItem]]) -> Iterator[tuple[list[WorkItem], ChunkResult]]:
        """Embed each chunk; yield it with its result, in any order, each chunk exactly once."""
        ...

    def close(self) -> None: ...


ExecutorFactory = Callable[["Collection", "ImageFetcher | None"], Executor]
EXECUTORS: Registry[ExecutorFactory] = Registry("executor")
EXECUTORS.register_lazy("dask", "iconodex.ingest.cluster")


class LocalExecutor:
    """Embeds the chunks in this process (the default), the next one's pictures fetched meanwhile."""

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

