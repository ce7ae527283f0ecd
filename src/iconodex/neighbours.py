"""Bulk similarity, as ONiT's ``query_similarities.py`` does it, written in ONiT's JSON shape:

```json
[{"reference": {"id": …, "iiif_url": …, "title": …},
  "neighbours": [{"id": …, "iiif_url": …, "title": …, "score": 0.93}, …]}, …]
```
(``local_url`` instead of ``iiif_url`` for pictures that are local files). References are looked
up in batches (one batched ANN search per batch) and the
JSON array is written as it goes, so ``--all`` over a million items runs in flat memory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from .formats.rows import item_payload

if TYPE_CHECKING:
    from .collection import Collection

log = logging.getLogger(__name__)
BATCH = 256


def neighbour_entries(coll: Collection, ids: Iterable[str], *, k: int = 50, space: str | None = None,
                      batch: int = BATCH, missing: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """One ``{"reference", "neighbours"}`` entry per id, in input order, the reference excluded.
    Ids that are unknown or have no vector are appended to ``missing`` and left out."""
    space = space or coll.similar_space
    for chunk in _chunks(ids, batch):
        found = _neighbours(coll, chunk, k, space)
        lost = [i for i in chunk if i not in found]
        if lost and missing is not None:
            missing.extend(lost)  # the caller reports them
        elif lost:
            log.warning("neighbours: %d id(s) unknown or not indexed, e.g. %r", len(lost), lost[0])
        items = _items(coll, {*found, *(n for pairs in found.values() for n, _ in pairs)})
        for item_id in chunk:
            if item_id in found:
                yield {"reference": items[item_id],
                       "neighbours": [{**items[n], "score": round(score, 6)} for n, score in found[item_id]
                                      if n in items]}


def _neighbours(coll: Collection, chunk: list[str], k: int, space: str) -> dict[str, list[tuple[str, float]]]:
    """:meth:`Collection.neighbours` for one chunk; ids without a vector are left out."""
    return coll.neighbours(chunk, k=k, space=space, batch=len(chunk), missing=[])


def _items(coll: Collection, ids: set[str]) -> dict[str, dict[str, str]]:
    keys = coll.store.keys_for_ids(sorted(ids))
    return {item.id: item_payload(item) for item in coll.store.get_many(list(keys.values())).values()}


def _chunks(ids: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for raw in ids:
        item_id = raw.strip()
        if not item_id:
            continue
        chunk.append(item_id)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def all_ids(coll: Collection) -> Iterator[str]:
    """Every indexed item's id, streamed in key order."""
    return (item.id for item in coll.items())


def write_json_array(entries: Iterable[dict[str, Any]], out: TextIO) -> int:
    """Write ``entries`` as one JSON array, one entry at a time; returns how many were written."""
    count = 0
    out.write("[")
    for entry in entries:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(entry, ensure_ascii=False, indent=2))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count
