"""The ``dask`` executor: chunks are fetched, decoded and embedded on the workers of an existing
Dask distributed cluster (``iconodex ingest … --cluster tcp://scheduler:8786``).

The coordinator keeps harvesting, committing and indexing exactly as locally; it sends each chunk
as one task and commits each result once, whichever worker computed it. A worker that dies
mid-chunk loses nothing: the scheduler runs the task again elsewhere and only the result that
reaches the coordinator is stored. Each worker process loads a model once and keeps it.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, IconodexError, ModelMismatchError
from ..logs import event
from ..store import WorkItem
from .executors import EXECUTORS, ChunkEmbedder, ChunkResult

if TYPE_CHECKING:
    from ..collection import Collection
    from ..config import Settings
    from ..fetch.images import ImageFetcher
    from ..models import Encoder

log = logging.getLogger(__name__)
MAX_AHEAD = 64  # chunks in flight at most, whatever the cluster's size: bounds the coordinator's memory


class ClusterError(IconodexError):
    """The Dask scheduler cannot be reached or was lost, or the workers cannot run iconodex."""


@dataclass(frozen=True)
class EmbedJob:
    """Everything a worker needs besides the chunk itself; small, sent with every task."""

    model: str
    model_options: dict[str, Any]
    identity: dict[str, Any] | None  # what the collection recorded: a worker with other model files refuses
    settings: Settings
    http_options: dict[str, Any]
    text_template: str | None
    run: str = field(default_factory=lambda: uuid.uuid4().hex)  # each ingest gets fresh HTTP state
    key: str = field(init=False)

    def __post_init__(self) -> None:
        identity = json.dumps(self.identity, sort_keys=True, default=str)
        object.__setattr__(self, "key", f"{self.run}|{self.model_key}|{identity}")

    @property
    def model_key(self) -> str:
        return f"{self.model}|{json.dumps(self.model_options, sort_keys=True, default=str)}"


class DaskExecutor:
    """Submits chunks to the cluster, a bounded number ahead, and yields each result as it arrives."""

    def __init__(self, collection: Collection, fetcher: ImageFetcher | None = None) -> None:
        del fetcher  # a confined ingest (the only one with its own fetcher) embeds locally
        self.address = collection.settings.cluster
        self.job = EmbedJob(model=collection.model_name, model_options=collection.model_options,
                            identity=collection.identity, settings=collection.settings,
                            http_options=collection._http_options(), text_template=collection.text_template)
        self.client = connect(self.address, collection.settings.timeout)
        try:
            self._check_workers()
        except BaseException:
            self.client.close()
            raise

    def _check_workers(self) -> None:
        """Workers running another iconodex would fail on every chunk, or worse, half-understand it."""
        from .. import __version__

        found = self._guard(lambda: self.client.run(_version, on_error="return"))
        for worker, version in sorted(found.items()):
            if isinstance(version, BaseException):
                raise ClusterError(f"Dask worker {worker} cannot run iconodex ({type(version).__name__}: {version}); "
                                   f"install 'iconodex[cluster]' {__version__} in the workers' environment")
            if version != __version__:
                raise ClusterError(f"Dask worker {worker} runs iconodex {version}, this machine {__version__}; "
                                   f"install the same version on both")

    def embed_chunks(self, chunks: Iterable[list[WorkItem]]) -> Iterator[tuple[list[WorkItem], ChunkResult]]:
        from distributed import as_completed

        pending = iter(chunks)
        in_flight: dict[Any, list[WorkItem]] = {}
        completed = as_completed(loop=self.client.loop)

        def submit_more() -> None:
            for _ in range(self._ahead() - len(in_flight)):
                work = next(pending, None)
                if work is None:
                    return
                future = self.client.submit(embed_on_worker, self.job, work, pure=False)
                in_flight[future] = work
                completed.add(future)

        submit_more()
        for future in completed:
            work = in_flight.pop(future)
            result = self._result(future, work)
            submit_more()  # before the coordinator commits, so the workers keep busy meanwhile
            yield work, result

    def _ahead(self) -> int:
        """Two chunks per worker thread: one running, one waiting, so no worker idles between tasks."""
        threads = sum(self._guard(self.client.nthreads).values())
        if not threads:
            event(log, "no Dask worker yet: chunks wait for one", logging.WARNING, cluster=self.address)
        return max(2, min(2 * threads, MAX_AHEAD))

    def _result(self, future: Any, work: list[WorkItem]) -> ChunkResult:
        from distributed import KilledWorker

        if future.status == "error":  # the task itself raised: say what the worker met
            exc = future.exception()
            if isinstance(exc, KilledWorker):
                return self._killed(work)
            raise exc
        return self._guard(future.result)

    def _killed(self, work: list[WorkItem]) -> ChunkResult:
        """A chunk that killed every worker it was given to (an out-of-memory picture, most likely):
        its items fail, the rest of the run goes on; the next run tries them again."""
        event(log, "a chunk killed the Dask workers that ran it; its items are marked failed", logging.WARNING,
              cluster=self.address, items=len(work))
        reason = "embed: the Dask workers that ran this item's chunk died (out of memory?); run again to retry"
        return ChunkResult(failed={w.key: reason for w in work})

    def _guard(self, call: Any) -> Any:
        try:
            return call()
        except (OSError, TimeoutError, CancelledError) as exc:  # CommClosedError is an OSError
            raise ClusterError(f"lost the Dask scheduler at {self.address} ({_first_line(exc)}); "
                               f"run the same command again to resume") from None

    def close(self) -> None:
        self.client.close()


EXECUTORS.register("dask", DaskExecutor)


def connect(address: str, timeout: float) -> Any:
    """A client of the scheduler at ``address``; a one-line error if there is none."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--cluster needs Dask distributed: pip install 'iconodex[cluster]'") from None
    _quiet_dask_logs()
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {_first_line(exc)}") from None


def _quiet_dask_logs() -> None:
    """Dask's client logs each connection problem with a traceback; the coordinator reports them in
    one line instead. ``--log-level debug`` keeps them."""
    if logging.getLogger().isEnabledFor(logging.DEBUG):
        return
    names = [name for name in logging.root.manager.loggerDict if name.split(".")[0] == "distributed"]
    for name in {"distributed", *names}:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# -- on the worker ------------------------------------------------------------------------------

_MODELS: dict[str, Encoder] = {}  # kept for the worker's life: loading is the expensive part
_EMBEDDERS: dict[str, ChunkEmbedder] = {}  # one per ingest run, the latest few
_RUNS_KEPT = 4
_LOCK = threading.Lock()  # a worker with several threads loads each model once


def _version() -> str:
    from .. import __version__

    return __version__


def embed_on_worker(job: EmbedJob, work: list[WorkItem]) -> ChunkResult:
    """The task: embed one chunk with this worker's copy of the model (loaded on its first task)."""
    try:
        return _embedder(job).embed(work)
    except IconodexError:
        raise
    except Exception as exc:  # a bug: its traceback goes to the worker's log
        log.exception("a chunk failed on this Dask worker")
        problem = f"unexpected {type(exc).__name__}: {_first_line(exc)}"
    # Raised outside the handler, without the bug as its context: Dask pickles an error with its whole
    # chain, and one it cannot pickle (a deep recursion) never reaches the coordinator, which would wait.
    raise ClusterError(f"a Dask worker failed on a chunk: {problem} (the worker's log has the traceback)")


def _embedder(job: EmbedJob) -> ChunkEmbedder:
    with _LOCK:
        if job.key not in _EMBEDDERS:
            model = _model(job)
            _check_identity(job, model)
            fetcher = _fetcher(job, model)
            _EMBEDDERS[job.key] = ChunkEmbedder(lambda: model, lambda: fetcher, job.settings, job.text_template)
            while len(_EMBEDDERS) > _RUNS_KEPT:  # an older run's HTTP client goes with it
                del _EMBEDDERS[next(iter(_EMBEDDERS))]
        return _EMBEDDERS[job.key]


def _model(job: EmbedJob) -> Encoder:
    if job.model_key not in _MODELS:
        from ..models import load_model

        _MODELS[job.model_key] = load_model(job.model, **job.model_options)
    return _MODELS[job.model_key]


def _check_identity(job: EmbedJob, model: Encoder) -> None:
    """Each collection's record against this worker's copy (two collections may name one model)."""
    from ..collection import _identity_changes

    changed = _identity_changes(job.identity, model.describe()) if job.identity is not None else []
    if changed:
        raise ModelMismatchError(f"model {job.model!r} on this Dask worker differs from the one that made the "
                                 f"collection ({', '.join(changed)} changed); give the workers the same files")


def _fetcher(job: EmbedJob, model: Encoder) -> ImageFetcher:
    """Fetches without a cache: a worker's disk is not the collection's, and items once embedded
    are not fetched again."""
    from ..fetch.http import HttpClient
    from ..fetch.images import ImageFetcher
    from ..models.base import fetch_side

    return ImageFetcher(HttpClient(**job.http_options), None, min_side=fetch_side(model),
                        max_pixels=job.settings.max_pixels)
