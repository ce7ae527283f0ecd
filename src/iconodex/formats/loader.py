"""Writing imported rows into a new collection: records, vectors and index, with no model loaded.

Imported vectors are kept bit for bit when they are unit length (what iconodex itself and most
tools write); other rows are L2-normalised, because every engine and the hybrid scorer assume
unit vectors. All-zero rows carry no direction and are skipped for that space.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..collection import Collection
from ..records import SourceRecord
from .base import ImportReport

log = logging.getLogger(__name__)
UNIT_TOLERANCE = 1e-4


def new_imported_collection(path: Path, *, model: str | None, similar_space: str,
                            dims: int | None = None, engine: str = "usearch") -> Collection:
    """A collection for imported vectors (see :meth:`Collection.create_for_import`)."""
    return Collection.create_for_import(path, model=model, similar_space=similar_space, dims=dims, engine=engine)


def unit_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows as unit float32 vectors, mask of usable rows); unit rows keep their exact bits."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix.astype(np.float64), axis=1)
    usable = np.isfinite(norms) & (norms > 0)
    fix = usable & (np.abs(norms - 1.0) > UNIT_TOLERANCE)
    if fix.any():
        matrix = matrix.copy()
        matrix[fix] = (matrix[fix] / norms[fix, None]).astype(np.float32)
    return matrix, usable


class ImportWriter:
    """Adds batches of (records, vectors per space) to a collection made for the import."""

    def __init__(self, coll: Collection, report: ImportReport, source: str, spec: str,
                 options: dict[str, Any] | None = None, advance: Callable[[int], None] | None = None) -> None:
        self.coll = coll
        self.advance = advance or (lambda n: None)  # told the rows of each batch added (a progress bar)
        self.report = report
        self.source = source
        self.run, _ = coll.store.begin_run(source, report.format, spec, options or {})

    def add(self, records: list[SourceRecord], vectors: dict[str, np.ndarray | None]) -> None:
        """``vectors[space]`` rows align with ``records``; a None matrix means no vectors there."""
        if not records:
            return
        self.coll.store.upsert_records(records, self.source, self.run)
        keys = self.coll.store.keys_for_ids([r.id for r in records])
        row_keys = np.asarray([keys[r.id] for r in records], dtype=np.int64)
        by_space: dict[str, dict[int, np.ndarray]] = {}
        for space, matrix in vectors.items():
            if matrix is None:
                continue
            unit, usable = unit_rows(matrix)
            self.coll.engine.ensure_space(space, unit.shape[1])
            by_space[space] = dict(zip(row_keys[usable].tolist(), unit[usable], strict=True))
            self.coll.engine.upsert(space, row_keys[usable], unit[usable])
            self.report.spaces[space] = self.report.spaces.get(space, 0) + int(usable.sum())
        self.coll.store.save_chunk(by_space, row_keys.tolist(), {}, {}, [])
        self.report.items += len(records)
        self.advance(len(records))

    def skip(self, where: str, why: str) -> None:
        log.warning("import %s: skipped %s: %s", self.report.format, where, why)
        self.report.skipped.append((where, why))

    def finish(self) -> Collection:
        """Save the index, then mark items indexed (the same order ingest uses, for crash safety)."""
        self.coll.engine.flush()
        last = 0
        while keys := self.coll.store.embedded_keys(4096, after_key=last):
            self.coll.store.mark_indexed(keys)
            last = keys[-1]
        self.coll.store.save_source_state(self.source, {}, self.report.to_dict())
        return self.coll
