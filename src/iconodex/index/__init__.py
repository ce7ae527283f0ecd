"""Vector engines by name: ``usearch`` (embedded, default), ``faiss`` (embedded) and, as plug-ins, ``qdrant`` and ``milvus``."""

from __future__ import annotations

from collections.abc import Callable

from ..registry import Registry
from .base import VectorEngine

ENGINES: Registry[Callable[..., VectorEngine]] = Registry("engine")
ENGINES.register_lazy("usearch", "iconodex.index.usearch_engine")
ENGINES.register_lazy("qdrant", "iconodex.index.qdrant_engine")
ENGINES.register_lazy("milvus", "iconodex.index.milvus_engine")
ENGINES.register_lazy("faiss", "iconodex.index.faiss_engine")

__all__ = ["ENGINES", "VectorEngine"]
