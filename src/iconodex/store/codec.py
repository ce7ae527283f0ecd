"""(De)serialising what the store keeps: JSON columns, image references, vectors."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..records import ImageRef


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def image_to_json(ref: ImageRef | None) -> str | None:
    if ref is None:
        return None
    return dumps({"kind": ref.kind, "location": ref.location, "api_version": ref.api_version,
                  "sizes": [list(s) for s in ref.sizes], "width": ref.width, "height": ref.height})


def image_from_json(text: str | None) -> ImageRef | None:
    if not text:
        return None
    data = json.loads(text)
    return ImageRef(kind=data["kind"], location=data["location"], api_version=data.get("api_version"),
                    sizes=tuple(tuple(s) for s in data.get("sizes", ())),
                    width=data.get("width"), height=data.get("height"))


def vector_to_blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def blob_to_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")
