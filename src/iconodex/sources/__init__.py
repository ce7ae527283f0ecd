"""Sources: where records come from. ``open_source`` picks one by name or by the spec's shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError, NotFoundError
from ..registry import Registry
from .base import HarvestContext, HarvestReport, Source, SourceFactory

SOURCES: Registry[type[SourceFactory]] = Registry("source")
SOURCES.register_lazy("folder", "iconodex.sources.folder")
SOURCES.register_lazy("csv", "iconodex.sources.csvfile")
SOURCES.register_lazy("omeka", "iconodex.sources.omeka")
SOURCES.register_lazy("iiif", "iconodex.sources.iiif")
SOURCES.register_lazy("sparql", "iconodex.sources.sparql")
SOURCES.register_lazy("captions", "iconodex.sources.captions")
SOURCES.register_lazy("urls", "iconodex.sources.urls")

# Order matters: the first factory whose ``detect`` accepts the spec wins.
DETECTION_ORDER = ("folder", "csv", "captions", "iiif", "omeka", "sparql", "urls")


def open_source(spec: str, kind: str | None = None, options: dict[str, Any] | None = None) -> Source:
    """Build a source from a path or URL, by explicit ``kind`` or by detection."""
    options = dict(options or {})
    if kind:
        return SOURCES.get(kind).from_spec(spec, options)
    if "://" not in spec and not Path(spec).expanduser().exists():
        raise NotFoundError(f"{spec}: no such file or folder")
    for name in DETECTION_ORDER:
        if name not in SOURCES:
            continue
        try:
            factory = SOURCES.get(name)
        except ImportError:
            continue
        if factory.detect(spec):
            return factory.from_spec(spec, options)
    raise ConfigError(
        f"cannot tell what kind of source {spec!r} is; name it with --source-type "
        f"({', '.join(SOURCES.names())})"
    )


__all__ = ["SOURCES", "HarvestContext", "HarvestReport", "Source", "open_source"]
