"""The model seam: an encoder turns pictures and texts into vectors in named spaces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image


@runtime_checkable
class Encoder(Protocol):
    """What every model provides.

    Spaces (like Qdrant's named vectors):
    - ``image``: what the picture shows, in the model's *shared* space, where text queries land;
    - ``text``: what the catalogue says (title + chosen fields), also in the shared space;
    - a model may add its own image-only spaces (e.g. ``visual`` for image→image).

    ``spaces`` maps every space the model produces to its native dimension.
    ``image_spaces`` are the spaces ``embed_images`` returns. ``similar_space`` is the space an
    image query (or "more like this") should search for pictures; it is ``image`` unless the model
    has a better purely visual one. Vectors returned are float32 and L2-normalised.
    """

    name: str
    spaces: dict[str, int]
    image_spaces: tuple[str, ...]
    similar_space: str
    image_size: int  # the input side the fetcher sizes for: pictures arrive with a shorter side of fetch_side(model)

    def embed_images(self, images: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        """RGB PIL images → {space: (n, dim) float32}. One batch; the caller batches."""
        ...

    def embed_texts(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        """Texts → (n, dim) float32 in the shared space. ``query`` selects the query form
        (prompts / prefixes) over the document form."""
        ...

    def describe(self) -> dict[str, Any]:
        """The identity recorded with a collection: name, version, weights digest, spaces.
        Two encoders whose ``describe()`` differ must not write into the same collection."""
        ...


class FitsImages(Protocol):
    """Optional: an encoder with ``fit_image`` lets the pipeline resize and crop each picture in
    the fetch threads; ``embed_images`` then finds them already at the network's size."""

    def fit_image(self, image: Image.Image) -> Image.Image: ...


def fetch_side(model: Encoder) -> int:
    """Shorter side to fetch and decode a picture at for ``model``: its input size plus the margin
    its own resize-then-centre-crop uses, so pictures are never upscaled."""
    return int(model.image_size * 8 / 7)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation; zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
