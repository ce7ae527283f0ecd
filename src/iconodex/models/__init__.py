"""Models: encoders by name. ``load_model('offline')`` needs no network."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ..registry import Registry, check_options
from .base import Encoder, l2_normalise

ModelFactory = Callable[..., Encoder]
MODELS: Registry[ModelFactory] = Registry("model")
MODELS.register_lazy("offline", "iconodex.models.offline")
# Importing iconodex.models.clip registers each CLIP-family short name, its hub id, and "auto".
for _name in ("uform3-multilingual", "clip-vit-b32", "openclip-vit-b32", "siglip2-base", "mclip-xlmr-b32", "auto",
              "unum-cloud/uform3-image-text-multilingual-base", "Xenova/clip-vit-base-patch32",
              "immich-app/ViT-B-32__laion2b-s34b-b79k", "onnx-community/siglip2-base-patch16-224-ONNX",
              "immich-app/XLM-Roberta-Large-Vit-B-32"):
    MODELS.register_lazy(_name, "iconodex.models.clip")

DEFAULT_MODEL = "offline"


def load_model(name: str = DEFAULT_MODEL, **options: Any) -> Encoder:
    """Build the encoder registered under ``name``, or load a model from a local directory
    (air-gapped institutions copy models by hand)."""
    if name not in MODELS and Path(name).expanduser().is_dir():
        from .clip import load_clip

        factory: ModelFactory = partial(load_clip, name)
    else:
        factory = MODELS.get(name)
    check_options(f"model {name!r}", factory, options)
    return factory(**options)


def options_for_recorded(name: str, identity: dict[str, Any] | None) -> dict[str, Any]:
    """Options under which the model ``name`` makes the vectors a collection recorded with ``identity``
    (a model whose newer version adds something it can leave out says so through ``options_for``)."""
    if identity is None or name not in MODELS:
        return {}
    options_for = getattr(MODELS.get(name), "options_for", None)
    return options_for(identity) if options_for else {}


def calibrated_name(name: str, identity: dict[str, Any] | None) -> str | None:
    """The name under which ``name``'s measured constants (leg scales, relevance cut) describe the
    vectors a collection recorded with ``identity`` (a model with variants keeps one set per variant,
    through its ``calibration``), or None when none were measured on those vectors (an older version
    kept for a collection made by it)."""
    if identity is None or name not in MODELS:
        return name
    calibration = getattr(MODELS.get(name), "calibration", None)
    return name if calibration is None else calibration(identity)


__all__ = ["MODELS", "DEFAULT_MODEL", "Encoder", "l2_normalise", "calibrated_name", "load_model", "options_for_recorded"]
