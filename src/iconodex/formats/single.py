"""The shape three seed formats share: one vector space, rows of (id, picture URL, vector).

An exporter iterates :func:`export_batches`; an importer hands :func:`import_batches` an iterator
of :class:`Rows` chunks read from its files, and gets a searchable collection back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..records import SourceRecord
from ..store import Item
from .base import ImportReport
from .loader import ImportWriter, new_imported_collection
from .rows import default_space, iter_rows

if TYPE_CHECKING:
    from ..collection import Collection


@dataclass(slots=True)
class Rows:
    """One chunk read from a file: records and their vectors, row-aligned."""

    records: list[SourceRecord]
    vectors: np.ndarray


def export_batches(coll: Collection, space: str | None, batch: int,
                   advance: Callable[[int], None] | None = None) -> Iterator[tuple[list[Item], np.ndarray]]:
    """(items, vectors) of ``space`` (default: ``image`` when present, else the visual space)."""
    space = space or default_space(coll)
    for chunk in iter_rows(coll, [space], batch, advance):
        yield chunk.items, chunk.vectors[space]


def import_batches(fmt: str, src: Path, collection_path: Path, chunks: Iterator[Rows], *,
                   model: str | None, space: str, skipped: list[tuple[str, str]] | None = None,
                   advance: Callable[[int], None] | None = None) -> tuple[Collection, ImportReport]:
    """Make a collection at ``collection_path`` from ``chunks``; ``skipped`` collects rows the
    reader could not use (it is filled while the iterator runs)."""
    coll = new_imported_collection(collection_path, model=model, similar_space=space)
    report = ImportReport(fmt)
    if skipped is not None:
        report.skipped = skipped
    writer = ImportWriter(coll, report, f"{fmt}:{Path(src).resolve().name}", str(src), advance=advance)
    for rows in chunks:
        writer.add(rows.records, {space: rows.vectors})
    return writer.finish(), report


def check_dims(matrix: np.ndarray, dims: int | None, where: str) -> int:
    from ..errors import SourceError

    if matrix.ndim != 2:
        raise SourceError(f"{where}: expected a 2-d matrix of vectors, got shape {matrix.shape}")
    if dims is not None and matrix.shape[1] != dims:
        raise SourceError(f"{where}: vectors have {matrix.shape[1]} dims, earlier ones {dims}")
    return int(matrix.shape[1])
