"""The CLIP-family ``Encoder``: two ONNX towers, the model's own preprocessing and tokenizer.

Images and texts land in one shared space, so ``image`` and ``text`` have the same dimension and a
text query searches pictures directly. ``dims`` keeps only the first components (UForm and other
Matryoshka-trained models stay useful truncated; the UForm seed keeps 256) and re-normalises.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ...errors import ConfigError, ModelNotAvailableError
from ..base import Encoder, l2_normalise
from ..catalog import CATALOG, DEFAULT_CLIP, FAMILY_FILES, find_entry
from ..hub import fetch_model_files, local_model_files
from ..preprocess import fit_image, preprocess
from ..tokenize import TextTokenizer
from .families import ClipSpec, detect_family, fp16_graphs, read_spec
from .runtime import CUDA, AdaptiveBatcher, OnnxTower, choose_providers

log = logging.getLogger(__name__)

# Ingest decodes a picture whose shorter side is at least twice the network's input (``fetch_side``
# adds its 8/7 back to this 7/4), in either resize mode: both a shortest-edge resize and a squash
# bring the shorter side down to the input size. Squash models (SigLIP) used to get no margin (fetched
# at 256 for 224): the model's resize, the only resampling, then reduced the DCT-scaled picture only
# slightly and libjpeg's blockwise cut-off showed in the vectors (1 − cos 5.5e-4 against the full
# decode; bench_parity.py, docs/benchmarks.md "parity-decoding").
_DECODE_MARGIN = 2 * 7 / 8


class ClipEncoder:
    """An ``Encoder`` over one CLIP-family model (UForm, CLIP/OpenCLIP, SigLIP 2, M-CLIP)."""

    image_spaces = ("image",)
    similar_space = "image"

    def __init__(
        self,
        spec: ClipSpec,
        *,
        name: str,
        device: str = "auto",
        prompt: str | None = None,
        dims: int | None = None,
    ) -> None:
        providers = choose_providers(device)
        self.spec = spec
        self.name = name
        self.prompt = prompt or None
        self.vision = OnnxTower(spec.files.path(spec.vision), providers)
        self.text = OnnxTower(spec.files.path(spec.text), providers)
        length = self.text.fixed_length or spec.text_spec.context_length
        self.tokenizer = TextTokenizer(
            spec.files.path(spec.tokenizer), replace(spec.text_spec, context_length=length)
        )
        native = self.text.output_dim or self.vision.output_dim or spec.dims_hint
        if not native:
            raise ModelNotAvailableError(f"cannot tell the embedding size of {name}: neither its graphs nor configs say")
        if dims is not None and not 0 < dims <= native:
            raise ConfigError(f"dims must be between 1 and {native} for {name}, got {dims}")
        self.dims = dims or int(native)
        self.spaces = {"image": self.dims, "text": self.dims}
        self.image_size = self._fetch_size()
        self._image_batches = AdaptiveBatcher()
        self._text_batches = AdaptiveBatcher(start=32, limit=512)

    def _fetch_size(self) -> int:
        return math.ceil(max(self.spec.image.size) * _DECODE_MARGIN)

    @property
    def providers(self) -> list[str]:
        return self.vision.providers

    def fit_image(self, image: Image.Image) -> Image.Image:
        """One picture resized and cropped as the model's config says (thread-safe)."""
        return fit_image(image, self.spec.image)

    def embed_images(self, images: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        if not images:
            return {"image": np.empty((0, self.dims), dtype=np.float32)}

        def work(rows: slice) -> np.ndarray:
            return self.vision.run_image(preprocess(images[rows], self.spec.image))

        return {"image": self._finish(self._image_batches.run(len(images), work))}

    def embed_texts(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dims), dtype=np.float32)
        if query and self.prompt:
            texts = [self.prompt.format(text) for text in texts]
        texts = list(texts)

        def work(rows: slice) -> np.ndarray:
            return self.text.run_text(self.tokenizer.encode(texts[rows]))

        return self._finish(self._text_batches.run(len(texts), work))

    def _finish(self, vectors: np.ndarray) -> np.ndarray:
        return l2_normalise(vectors[:, : self.dims])

    def _config_files(self) -> list[str]:
        """Every file besides the graphs shapes the vectors too (preprocessing, tokens)."""
        return [name for name in self.spec.files.paths if not name.endswith(".onnx")]

    def describe(self) -> dict[str, Any]:
        files = self.spec.files
        used = sorted({*self._config_files(), self.spec.vision, self.spec.text})
        return {
            "name": self.name,
            "family": self.spec.family,
            "model_type": self.spec.model_type,
            "hub_id": files.repo_id,
            "revision": files.revision,
            "path": None if files.repo_id else str(files.root),
            "files": {relative: files.digest(relative) for relative in used},
            "dims": self.dims,
            "spaces": dict(self.spaces),
            "prompt": self.prompt,
            "precision": "fp16" if self.spec.vision.endswith("_fp16.onnx") else "fp32",
        }


def load_clip(
    name: str,
    *,
    offline: bool | None = None,
    device: str = "auto",
    precision: str = "auto",
    prompt: str | None = None,
    dims: int | None = None,
) -> ClipEncoder:
    """A CLIP-family encoder by catalog name, full hub id, or local model directory.

    ``precision`` auto uses the fp16 graphs on a GPU when the export has them. ``prompt`` (e.g.
    ``"a photo of {}"``) wraps query texts; the catalog's default applies when it is None, and an
    empty string turns it off.
    """
    if precision not in ("auto", "fp32", "fp16"):
        raise ConfigError(f"precision must be auto, fp32 or fp16, got {precision!r}")
    fp16 = precision == "fp16" or (precision == "auto" and CUDA in choose_providers(device))
    directory = Path(name).expanduser()
    if directory.is_dir():
        spec = _local_spec(directory, fp16)
        return ClipEncoder(spec, name=directory.name, device=device, prompt=prompt, dims=dims)
    entry = find_entry(name)
    if entry is None:
        known = ", ".join(sorted(CATALOG))
        raise ConfigError(f"unknown model {name!r}; known: {known}, auto, or a local model directory")
    files = fetch_model_files(
        entry.repo_id,
        entry.files,
        label=entry.name,
        revision=entry.revision,
        optional=entry.fp16_files if fp16 else (),
        offline=offline,
    )
    spec = read_spec(entry.family, files, fp16=fp16)
    chosen = entry.prompt if prompt is None else prompt
    return ClipEncoder(spec, name=entry.name, device=device, prompt=chosen, dims=dims)


def _local_spec(directory: Path, fp16: bool) -> ClipSpec:
    family = detect_family(directory)
    files = local_model_files(directory, FAMILY_FILES[family], label=str(directory))
    for twin in fp16_graphs(family) if fp16 else ():
        if (directory / twin).is_file():
            files.paths[twin] = directory / twin
    return read_spec(family, files, fp16=fp16)


def load_auto(*, offline: bool | None = None, **options: Any) -> Encoder:
    """The default CLIP model when it can be had, else the offline pack, saying so in the log.

    Only ``auto`` falls back: a model asked for by name fails loudly instead. The returned
    encoder's ``describe()`` names the model actually used.
    """
    try:
        return load_clip(DEFAULT_CLIP, offline=offline, **options)
    except (ModelNotAvailableError, ConfigError) as err:
        log.warning("model auto: %s — using the offline pack instead", err)
    from .. import load_model

    return load_model("offline")

