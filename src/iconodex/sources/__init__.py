"""Sources: where records come from. ``open_source`` picks one by name or by the spec's shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError, NotFoundError
from ..registry import Registry, did_you_mean
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


# Given to every source by the pipeline or by sync, whether it uses them or not.
RUN_OPTIONS = frozenset({"workdir", "full"})
# What --iiif-column sets: each source that has a column or variable of pictures names it its own way.
IMAGE_OPTION = "iiif_column"


def open_source(spec: str, kind: str | None = None, options: dict[str, Any] | None = None) -> Source:
    """Build a source from a path or URL, by explicit ``kind`` or by detection."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("no source given: name a folder, a CSV, a manifest or an API URL")
    name = kind or _detect(spec)
    factory = SOURCES.get(name)
    return factory.from_spec(spec, source_options(name, factory, options or {}))


def _detect(spec: str) -> str:
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
            return name
    raise ConfigError(
        f"cannot tell what kind of source {spec!r} is; name it with --source-type "
        f"({', '.join(SOURCES.names())})"
    )


def source_options(name: str, factory: type[SourceFactory], options: dict[str, Any]) -> dict[str, Any]:
    """``options`` as the source takes them: ``iiif_column`` under the source's own name for it; one it
    does not take is refused, naming those it does (a mistyped ``-o item_sets=7`` would harvest everything)."""
    options = dict(options)
    if IMAGE_OPTION in options:
        column, image_option = options.pop(IMAGE_OPTION), getattr(factory, "image_option", None)
        if not image_option:
            raise ConfigError(f"the {name} source has no column or variable of pictures to name (--iiif-column)")
        options.setdefault(image_option, column)
    takes = getattr(factory, "options", None)
    if takes is None:  # a plugin's source that does not say which it takes is given them all
        return options
    for option in options:
        if option not in takes and option not in RUN_OPTIONS:
            raise ConfigError(f"the {name} source takes no option {option!r}{did_you_mean(option, takes)}; "
                              f"it takes {', '.join(sorted(takes)) or 'none'}")
    return options


__all__ = ["IMAGE_OPTION", "RUN_OPTIONS", "SOURCES", "HarvestContext", "HarvestReport", "Source", "open_source",
           "source_options"]
