"""CLIP-family encoders run by ONNX Runtime: UForm3, OpenAI CLIP / OpenCLIP, SigLIP 2, M-CLIP.

Importing this package registers every catalog model in ``iconodex.models.MODELS`` under its
short name and its full hub id, plus ``auto`` (the default CLIP model, else the offline pack).
"""

from __future__ import annotations

from functools import partial

from .. import MODELS
from ..catalog import CATALOG
from .encoder import ClipEncoder, load_auto, load_clip

for _entry in CATALOG.values():
    MODELS.register(_entry.name, partial(load_clip, _entry.name))
    MODELS.register(_entry.repo_id, partial(load_clip, _entry.name))
MODELS.register("auto", load_auto)

__all__ = ["ClipEncoder", "load_auto", "load_clip"]
