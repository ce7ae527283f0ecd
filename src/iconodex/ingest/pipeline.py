"""harvest → fetch → embed → index, in chunks, resumable.

Every stage commits to SQLite before the next one relies on it:
- harvest upserts records (unchanged ones cost one lookup) and stamps them with the run number;
- embed takes pending items a chunk at a time, fetches and decodes pictures in threads while the
  model runs, and commits the chunk's vectors and statuses in one transaction;
- index catches the ANN index up from the stored vectors (idempotent upserts), saves it, and only
  then marks items indexed.
A kill -9 anywhere loses at most the chunk in flight; the same command finishes the job.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, IconodexError
from ..logs import event
from ..progress import Stages
from ..records import SourceRecord
from ..redact import public_options, public_text
from ..sources.base import HarvestContext, HarvestReport, Source
from ..store import WorkItem
from .documents import document_text
from .report import IngestReport

if TYPE_CHECKING:
    from ..collection import Collection
    from ..fetch.http import HttpClient
    from ..fetch.images import ImageFetcher

log = logging.getLogger(__name__)
HARVEST_BATCH = 500
TEXT_BATCH = 64
INDEX_EVERY_ITEMS = 4096


class Pipeline:
    """``http`` and ``fetcher`` default to the collection's; a confined ingest passes guarded ones."""

    def __init__(self, collection: Collection, stages: Stages, *, http: HttpClient | None = None,
                 fetcher: ImageFetcher | None = None) -> None:
        self.coll = collection
        self.store = collection.store
        self.settings = collection.settings
        self.stages = stages
        self._http = http
        self._fetcher = fetcher

    @property
    def http(self) -> HttpClient:
        return self._http or self.coll.http

    @property
    def fetcher(self) -> ImageFetcher:
        return self._fetcher or self.coll.fetcher  # the collection's loads the model: only when needed

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
        after, since_index = 0, 0
        while work := self.store.pending(self.settings.chunk_size, after):
            after = work[-1].key
            self._embed_chunk(work, report)
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

    def _embed_chunk(self, work: list[WorkItem], report: IngestReport) -> None:
        vectors: dict[str, dict[int, np.ndarray]] = {}
        failed: dict[int, str] = {}
        hashes: dict[int, str] = {}
        self._embed_images([w for w in work if w.need_image and w.item.image], vectors, failed, hashes)
        drop_text = self._embed_texts([w for w in work if w.need_text and w.key not in failed], vectors)
        done = [w.key for w in work if w.key not in failed]
        names = {w.key: w.id for w in work}
        report.failed.extend((names[key], reason) for key, reason in failed.items())
        report.embedded += len(done)
        self.coll.commit_chunk(vectors, done, failed, hashes, drop_text)

    def _embed_images(self, work: list[WorkItem], vectors: dict, failed: dict[int, str], hashes: dict) -> None:
        if not work:
            return
        model = self.coll.model
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
        for position, outcome in self.fetcher.fetch_many(refs, workers=_fetch_workers(refs, self.settings.workers),
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
        template = self.coll.text_template
        documents = [(w.key, document_text(w.item, template)) for w in work]
        with_text = [(key, text) for key, text in documents if text]
        for start in range(0, len(with_text), TEXT_BATCH):
            batch = with_text[start:start + TEXT_BATCH]
            matrix = self.coll.model.embed_texts([text for _, text in batch], query=False)
            vectors.setdefault("text", {}).update(zip([key for key, _ in batch], matrix, strict=True))
        return [key for key, text in documents if not text]

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


def _batches(records: Iterator[SourceRecord], size: int) -> Iterator[list[SourceRecord]]:
    batch: list[SourceRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
