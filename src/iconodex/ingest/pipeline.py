"""harvest → fetch → embed → index, in chunks, resumable.

Every stage commits to SQLite before the next one relies on it:
- harvest upserts records (unchanged ones cost one lookup) and stamps them with the run number;
- embed takes pending items a chunk at a time, has an executor fetch and decode pictures in threads
  while the model runs (here, or on a Dask cluster's workers), and commits the chunk's vectors and
  statuses in one transaction;
- index catches the ANN index up from the stored vectors (idempotent upserts), saves it, and only
  then marks items indexed.
A kill -9 anywhere loses at most the chunks in flight; the same command finishes the job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import ConfigError, IconodexError
from ..logs import event
from ..progress import Stages
from ..records import SourceRecord
from ..redact import public_options, public_text
from ..sources.base import HarvestContext, HarvestReport, Source
from ..store import WorkItem
from .executors import ChunkResult, Executor, LocalExecutor
from .report import IngestReport

if TYPE_CHECKING:
    from ..collection import Collection
    from ..fetch.http import HttpClient
    from ..fetch.images import ImageFetcher

log = logging.getLogger(__name__)
HARVEST_BATCH = 500
INDEX_EVERY_ITEMS = 4096


class Pipeline:
    """``http`` and ``fetcher`` default to the collection's; a confined ingest passes guarded ones.
    ``executor`` embeds the chunks (here by default; see executors.py); this object alone writes."""

    def __init__(self, collection: Collection, stages: Stages, *, http: HttpClient | None = None,
                 fetcher: ImageFetcher | None = None, executor: Executor | None = None) -> None:
        self.coll = collection
        self.store = collection.store
        self.settings = collection.settings
        self.stages = stages
        self._http = http
        self._fetcher = fetcher
        self.executor = executor or LocalExecutor(collection, fetcher)  # where chunks are embedded

    @property
    def http(self) -> HttpClient:
        return self._http or self.coll.http

    # -- harvest ------------------------------------------------------------------------------

    def harvest(self, source: Source, kind: str, spec: str, options: dict) -> IngestReport:
        name = public_text(source.name)  # no credential (user:pass@, ?key=) is ever stored or printed
        run, state = self.store.begin_run(name, kind, public_text(spec), public_options(options))
        self.http.breaker.reset()  # hosts given up by an earlier run in this process are tried again
        harvest = HarvestReport(source=name)
        vouched: set[str] = set()  # ids an incremental source says still exist, unchanged
        report = IngestReport(source=name, harvest=harvest, run=run)
        ctx = HarvestContext(http=self.http, report=harvest, state=state,
                             known_version=self.store.known_version,
                             languages=tuple(self.settings.languages), options=options, settings=self.settings,
                             still_present=vouched.update)
        self.stages.start("harvest")
        received = 0
        for batch in _batches(self._records(source, ctx), HARVEST_BATCH):
            counts = self.store.upsert_records(batch, name, run)
            report.added += counts.added
            report.updated += counts.updated
            report.retried += counts.retried
            report.unchanged += counts.unchanged
            received += len(batch)
            self.stages.total("harvest", harvest.total_hint)
            self.stages.advance("harvest", len(batch))
        harvest.harvested = received  # what reached the store is the count that matters
        self.stages.finish("harvest")
        report.deleted = self.coll.remove_keys(self.store.source_keys(name, ctx.deleted)) if ctx.deleted else 0
        if harvest.complete and not harvest.partial:
            report.deleted += self.coll.remove_keys(self.store.stale_keys(name, run, vouched))
        elif not harvest.complete:
            event(log, "harvest incomplete: absent items are kept", logging.WARNING, source=name)
        self.store.save_source_state(name, ctx.state)
        return report

    def finish(self, report: IngestReport) -> None:
        """Keep the run's final report (after embedding and indexing) and its source problems."""
        self.store.finish_run(report.source, report.run, report.to_dict(), report.source_problems())

    @staticmethod
    def _records(source: Source, ctx: HarvestContext) -> Iterator[SourceRecord]:
        """The source's records; a source that dies mid-way marks the listing incomplete."""
        try:
            yield from source.harvest(ctx)
        except ConfigError:
            raise  # the user's request is wrong (a malformed query, a missing column): say so
        except IconodexError as exc:
            ctx.report.fail(ctx.report.source, public_text(str(exc)), listing=True)
        except Exception as exc:  # a bug in a source must not lose what was harvested so far
            log.debug("source crashed", exc_info=True)
            ctx.report.fail(ctx.report.source, public_text(f"unexpected {type(exc).__name__}: {exc}"), listing=True)

    # -- embed + index ------------------------------------------------------------------------

    def process_pending(self, report: IngestReport) -> None:
        pending = self.store.count_pending()
        self.stages.start("embed", pending)
        self.stages.start("index", None)
        since_index = 0
        for work, result in self.executor.embed_chunks(self._pending_chunks()):
            self._commit_chunk(work, result, report)
            self.stages.advance("embed", len(work))
            since_index += len(work)
            # Saving the index costs O(collection); doing it geometrically keeps the total linear
            # while bounding what a crash leaves to re-index.
            if since_index >= max(INDEX_EVERY_ITEMS, self.coll.indexed_count() // 4):
                self.catch_up_index(report)
                since_index = 0
        self.coll.flush_pending_reduction()
        self.catch_up_index(report)
        self.stages.finish("embed")
        self.stages.finish("index")

    def _pending_chunks(self) -> Iterator[list[WorkItem]]:
        after = 0
        while work := self.store.pending(self.settings.chunk_size, after):
            after = work[-1].key
            yield work

    def _commit_chunk(self, work: list[WorkItem], result: ChunkResult, report: IngestReport) -> None:
        done = [w.key for w in work if w.key not in result.failed]
        names = {w.key: w.id for w in work}
        report.failed.extend((names[key], reason) for key, reason in result.failed.items())
        report.embedded += len(done)
        self.coll.commit_chunk(result.vectors, done, result.failed, result.hashes, result.drop_text)

    def catch_up_index(self, report: IngestReport) -> None:
        """Upsert every embedded item into the ANN index, save it once, then mark them indexed."""
        done: list[int] = []
        last = 0
        while keys := self.store.embedded_keys(4096, after_key=last):
            self.coll.index_keys(keys)
            done.extend(keys)
            last = keys[-1]
        if not done:
            return
        self.coll.engine.flush()
        self.store.mark_indexed(done)
        report.indexed += len(done)
        self.stages.advance("index", len(done))


def _batches(records: Iterator[SourceRecord], size: int) -> Iterator[list[SourceRecord]]:
    batch: list[SourceRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
