"""What exporters and importers share: streaming a collection's items with their vectors, and
turning image references into URLs (and back) the way the seeds' files write them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import NotFoundError
from ..fetch.iiif_image import full_image_url
from ..records import ImageRef
from ..store import Item

if TYPE_CHECKING:
    from ..collection import Collection

# A IIIF Image API request: {base}/{region}/{size}/{rotation}/{quality}.{format}
IIIF_REQUEST = re.compile(
    r"^(?P<base>https?://.+?)/(?:full|square|pct:[\d.,]+|\d+,\d+,\d+,\d+)/(?:max|full|\^?!?\d*,\d*|\^?pct:[\d.]+)"
    r"/!?\d+(?:\.\d+)?/(?:default|native|color|gray|grey|bitonal)\.(?:jpg|jpeg|png|webp|tif|gif)$")


@dataclass(slots=True)
class RowBatch:
    """Items in key order with their vectors; ``present[space]`` marks rows that have one
    (absent rows are zeros in ``vectors[space]``)."""

    items: list[Item]
    vectors: dict[str, np.ndarray]
    present: dict[str, np.ndarray]


def iter_rows(coll: Collection, spaces: Sequence[str], batch: int = 4096,
              advance: Callable[[int], None] | None = None) -> Iterator[RowBatch]:
    """Stream indexed items that have a vector in ``spaces[0]``, with their vectors in every
    space, ``batch`` rows at a time (flat memory: nothing is gathered across batches); ``advance``
    is told each batch's rows once it has been used (a progress bar)."""
    known = coll.spaces
    for space in spaces:
        if space not in known:
            raise NotFoundError(f"no space {space!r} in {coll.path}; it has {', '.join(known) or 'none'}")
    first, *others = spaces
    for keys, matrix in coll.store.iter_vectors(first, batch):
        by_key = coll.store.get_many(keys.tolist())
        vectors = {first: matrix}
        present = {first: np.ones(len(keys), dtype=bool)}
        for space in others:
            vectors[space], present[space] = _aligned(coll, space, keys, known[space])
        yield RowBatch([by_key[int(k)] for k in keys], vectors, present)
        if advance is not None:
            advance(len(keys))


def _aligned(coll: Collection, space: str, keys: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    found, matrix = coll.store.vectors_for(space, keys.tolist())
    out = np.zeros((len(keys), dims), dtype=np.float32)
    present = np.isin(keys, found)
    if len(found):
        row_of = {int(k): i for i, k in enumerate(found)}
        out[present] = matrix[[row_of[int(k)] for k in keys[present]]]
    return out, present


def count_rows(coll: Collection, space: str) -> int:
    """Vectors of indexed items in ``space``: the rows an export writes."""
    return coll.store.vector_counts(space)[0]


def image_url(ref: ImageRef | None) -> str:
    """The picture as the seeds write it: a URL (IIIF: the full image), or a local path."""
    if ref is None:
        return ""
    if ref.kind == "iiif":
        return full_image_url(ref)
    return ref.location


def image_ref(text: str | None) -> ImageRef | None:
    """The inverse of :func:`image_url`: a IIIF request becomes its service base again."""
    text = (text or "").strip()
    if not text:
        return None
    match = IIIF_REQUEST.match(text)
    if match:
        return ImageRef("iiif", match["base"], api_version="3" if "/full/max/" in text else "2")
    if text.startswith(("http://", "https://")):
        return ImageRef("url", text)
    return ImageRef("path", text)


def item_payload(item: Item) -> dict[str, str]:
    """An item as ONiT's files name it: ``id``, ``iiif_url`` (remote) or ``local_url`` (a file), ``title``."""
    data = {"id": item.id}
    if item.image is not None and item.image.kind == "path":
        data["local_url"] = item.image.location
    elif item.image is not None:
        data["iiif_url"] = image_url(item.image)
    if item.title:
        data["title"] = item.title
    return data


def default_space(coll: Collection) -> str:
    """The picture space other tools expect: ``image`` (a shared CLIP-like space) when present."""
    return "image" if "image" in coll.spaces else coll.similar_space
