"""What a source hands to the pipeline: one record per searchable picture."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

ImageKind = Literal["path", "url", "iiif"]


@dataclass(frozen=True, slots=True)
class ImageRef:
    """Where a picture lives.

    ``kind``:
      - ``path``: a local file;
      - ``url``: a plain image URL;
      - ``iiif``: a IIIF Image API *service base* URL (no ``/info.json``); the fetcher asks for
        ``{base}/full/w,/0/default.jpg`` at the size the model needs, never the original.
    ``sizes`` lists sizes a level-0 service advertises (width, height), when known; ``width`` and
    ``height`` are the largest size the service serves (the picture's, within the server's limits),
    when known, so a request can ask for exactly the size a model needs.
    """

    kind: ImageKind
    location: str
    api_version: str | None = None  # IIIF Image API version: "1.1", "2", "3"
    sizes: tuple[tuple[int, int], ...] = ()
    width: int | None = None
    height: int | None = None

    def key(self) -> str:
        return f"{self.kind}:{self.location}"


Metadata = dict[str, list[str]]


@dataclass(slots=True)
class SourceRecord:
    """One item as a source describes it.

    ``id`` is the source's own stable identifier (a folder-relative path, a CSV id, an Omeka item id,
    a IIIF canvas id). ``version`` is the source's own change marker (mtime+size, ``o:modified``, an
    ETag); when absent, a hash of the record stands in. ``links`` may hold ``page``, ``manifest``,
    ``canvas`` and ``thumbnail`` URLs so results link back to their origin.
    """

    id: str
    image: ImageRef | None
    title: str = ""
    metadata: Metadata = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    version: str | None = None

    def fingerprint(self) -> str:
        """A hash of everything that, when changed, means the item must be processed again."""
        payload = {
            "title": self.title,
            "metadata": self.metadata,
            "image": self.image.key() if self.image else None,
            "links": self.links,
            "version": self.version,
        }
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.blake2b(blob, digest_size=16).hexdigest()


def add_value(metadata: Metadata, field_name: str, value: object) -> None:
    """Append a non-empty value to a multi-valued metadata field."""
    if value is None:
        return
    text = str(value).strip()
    if text and text not in metadata.setdefault(field_name, []):
        metadata[field_name].append(text)
