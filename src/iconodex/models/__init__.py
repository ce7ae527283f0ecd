"""Models: encoders by name. ``load_model('offline')`` needs no network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..registry import Registry
from .base import Encoder, l2_normalise

ModelFactory = Callable[..., Encoder]
MODELS: Registry[ModelFactory] = Registry("model")
MODELS.register_lazy("offline", "iconodex.models.offline")

DEFAULT_MODEL = "offline"


def load_model(name: str = DEFAULT_MODEL, **options: Any) -> Encoder:
    """Build the encoder registered under ``name`` (or a local model directory, once supported)."""
    return MODELS.get(name)(**options)


__all__ = ["MODELS", "DEFAULT_MODEL", "Encoder", "l2_normalise", "load_model"]
