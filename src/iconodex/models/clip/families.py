"""Reading a model's own files into one ``ClipSpec``: which graphs, which pixels, which tokens.

One reader per repository layout (see ``iconodex.models.catalog``). A hand-copied directory is
recognised by its files, so air-gapped institutions need no catalog entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ModelNotAvailableError
from ..catalog import FAMILY_FILES
from ..hub import ModelFiles
from ..preprocess import ImageSpec, from_hf_config, from_open_clip_config, from_uform_config
from ..tokenize import TextSpec, hf_context_length, resolve_pad_id

# (image graph, text graph, tokenizer) per layout; fp16 twins replace the graphs when chosen.
_GRAPHS = {
    "uform": ("image_encoder.onnx", "text_encoder.onnx", "tokenizer.json"),
    "hf": ("onnx/vision_model.onnx", "onnx/text_model.onnx", "tokenizer.json"),
    "open_clip": ("visual/model.onnx", "textual/model.onnx", "textual/tokenizer.json"),
}
_MARKERS = (("uform", "image_encoder.onnx"), ("open_clip", "visual/model.onnx"), ("hf", "onnx/vision_model.onnx"))


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to build an encoder, read from the model's files (no sessions yet)."""

    family: str
    files: ModelFiles
    vision: str  # relative path of the image graph
    text: str  # relative path of the text graph
    tokenizer: str
    image: ImageSpec
    text_spec: TextSpec
    dims_hint: int | None  # from the configs; the graph's output shape wins when it is static
    model_type: str  # clip, siglip, uform, open_clip


def detect_family(directory: Path) -> str:
    """The layout of a local model directory, judged by the files it holds."""
    for family, marker in _MARKERS:
        if (directory / marker).is_file():
            return family
    expected = "; ".join(f"{family}: {', '.join(files)}" for family, files in FAMILY_FILES.items())
    raise ModelNotAvailableError(f"{directory} holds no supported model layout (expected one of {expected})")


def fp16_graphs(family: str) -> tuple[str, ...]:
    """The fp16 twins of a layout's graphs (only the transformers.js layout publishes them)."""
    if family != "hf":
        return ()
    image, text, _ = _GRAPHS[family]
    return (image.replace(".onnx", "_fp16.onnx"), text.replace(".onnx", "_fp16.onnx"))


def read_spec(family: str, files: ModelFiles, *, fp16: bool = False) -> ClipSpec:
    """Parse the configs of ``files`` according to ``family``."""
    image_graph, text_graph, tokenizer = _GRAPHS[family]
    twins = fp16_graphs(family)
    if fp16 and twins and all(files.has(name) for name in twins):
        image_graph, text_graph = twins
    image, text_spec, dims, model_type = _READERS[family](files, tokenizer)
    return ClipSpec(family, files, image_graph, text_graph, tokenizer, image, text_spec, dims, model_type)


def _read_uform(files: ModelFiles, tokenizer: str):
    config = _json(files, "config.json")
    text = config.get("text_encoder", {})
    spec = TextSpec(
        context_length=int(text.get("max_position_embeddings", 64)),
        pad_id=int(text.get("padding_idx", 0)),
        keep_end_token=False,
    )
    return from_uform_config(config), spec, text.get("embedding_dim"), "uform"


def _read_hf(files: ModelFiles, tokenizer: str):
    config = _json(files, "config.json")
    token_config = _json(files, "tokenizer_config.json")
    model_type = str(config.get("model_type", "clip"))
    default_length = 64 if model_type.startswith("siglip") else 77
    spec = TextSpec(
        context_length=hf_context_length(token_config, config, default_length),
        pad_id=resolve_pad_id(files.path(tokenizer), token_config),
    )
    dims = config.get("projection_dim") or (config.get("text_config") or {}).get("hidden_size")
    return from_hf_config(_json(files, "preprocessor_config.json")), spec, dims, model_type


def _read_open_clip(files: ModelFiles, tokenizer: str):
    config = _json(files, "config.json")
    token_config = _json(files, "textual/tokenizer_config.json")
    text_cfg = config.get("text_cfg") or {}
    spec = TextSpec(
        context_length=int(text_cfg.get("context_length", 77)),
        pad_id=resolve_pad_id(files.path(tokenizer), token_config),
    )
    image = from_open_clip_config(_json(files, "visual/preprocess_cfg.json"))
    return image, spec, config.get("embed_dim"), "open_clip"


_READERS = {"uform": _read_uform, "hf": _read_hf, "open_clip": _read_open_clip}


def _json(files: ModelFiles, relative: str) -> dict[str, Any]:
    path = files.path(relative)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelNotAvailableError(f"{path} is unreadable ({err}); delete it and pull the model again") from None
    if not isinstance(value, dict):
        raise ModelNotAvailableError(f"{path} is not a JSON object; delete it and pull the model again")
    return value
