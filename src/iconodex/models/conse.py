"""ConSE: put a classifier's pictures into a text space (Norouzi et al., 2014, arXiv:1312.5650).

Without a CLIP-like model, text can still find pictures: an ImageNet classifier says what a picture
shows as probabilities over 1000 class names, and a multilingual text encoder places those names in
its space. A picture's vector is the probability-weighted mean of the embeddings of its top-T class
names, so "a cat", "un chat" and "Katze" all land near a picture the classifier calls a tabby.
"""

from __future__ import annotations

import functools
import hashlib
import io
from importlib import resources

import numpy as np

from ..progress import preparing
from . import e5_text
from .base import l2_normalise
from .cache import cache_dir, cache_path, cached_bytes

# The form class names are embedded in (e5 *passage* form); chosen on the scikit-image pictures.
PROMPT = "a picture of a {}"
DEFAULT_TOP = 10
_BATCH = 256  # names per e5 call while embedding the classes: small enough for a moving progress bar


def _classes_text() -> str:
    return resources.files("iconodex.models").joinpath("data", "imagenet_classes.txt").read_text("utf-8")


@functools.cache
def class_synonyms() -> tuple[tuple[str, ...], ...]:
    """For each ImageNet-1k class id, its names (a clean name first, then synonyms)."""
    lines = [line for line in _classes_text().splitlines() if line.strip() and not line.startswith("#")]
    return tuple(tuple(name.strip() for name in line.split(";") if name.strip()) for line in lines)


@functools.cache
def names_digest() -> str:
    """A digest of the shipped class names: ConSE vectors change when they do."""
    return hashlib.blake2b(_classes_text().encode(), digest_size=8).hexdigest()


def class_labels() -> list[str]:
    """One display name per class id."""
    return [names[0] for names in class_synonyms()]


@functools.cache
def class_embeddings(prompt: str = PROMPT) -> np.ndarray:
    """(classes, 384): per class, the L2-normalised mean of its names' e5 passage embeddings.

    Computed once (~10 s) and cached as .npy, keyed by the names, the prompt and the text model.
    """
    key = hashlib.blake2b(
        f"{names_digest()}\n{prompt}\n{e5_text.identity()}".encode(), digest_size=12
    ).hexdigest()
    data = cached_bytes(cache_path("offline", f"classnames-{key}.npy"), lambda: _compute(prompt))
    return np.load(io.BytesIO(data), allow_pickle=False)


def _compute(prompt: str) -> bytes:
    synonyms = class_synonyms()
    texts = [prompt.format(name) for names in synonyms for name in names]
    what = f"the offline model: embedding {len(synonyms)} ImageNet class names (once, ~30 s; cached in {cache_dir()})"
    parts = []
    with preparing(what, total=len(texts)) as advance:
        for start in range(0, len(texts), _BATCH):
            parts.append(e5_text.embed(texts[start:start + _BATCH], query=False))
            advance(len(parts[-1]))
    vectors = np.concatenate(parts)
    owners = np.repeat(np.arange(len(synonyms)), [len(names) for names in synonyms])
    sums = np.zeros((len(synonyms), vectors.shape[1]), np.float32)
    np.add.at(sums, owners, vectors)
    buffer = io.BytesIO()
    np.save(buffer, l2_normalise(sums), allow_pickle=False)
    return buffer.getvalue()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def conse(probabilities: np.ndarray, class_vectors: np.ndarray, top: int = DEFAULT_TOP) -> np.ndarray:
    """(n, classes) probabilities → (n, dim) L2-normalised convex combinations of the top classes."""
    top = max(1, min(top, probabilities.shape[1]))
    best = np.argpartition(-probabilities, top - 1, axis=1)[:, :top]
    weights = np.take_along_axis(probabilities, best, axis=1)
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return l2_normalise(np.einsum("nt,ntd->nd", weights, class_vectors[best]))
