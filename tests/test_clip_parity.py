"""Parity with the originals: every CLIP-family model iconodex runs gives the vectors its authors' code gives.

For each catalog family a tiny randomly initialised model is built with the original implementation
(tests/_parity_models.py), exported the way the hub repository was, loaded through iconodex from a
hub-style cache, and compared on real pictures (scikit-image's data set: colour, greyscale, a
transparent cut-out, a palette picture, landscape and portrait) and texts (case, accents, double spaces, empty, too long).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch", reason="parity tests need torch: pip install 'iconodex[parity]'")
pytest.importorskip("transformers", reason="parity tests need transformers: pip install 'iconodex[parity]'")
pytest.importorskip("uform", reason="parity tests need uform: pip install 'iconodex[parity]'")
data = pytest.importorskip("skimage.data", reason="parity tests picture scikit-image's data set")

import _parity_models as originals  # noqa: E402
import _tiny_models as tiny  # noqa: E402

from iconodex.models import load_model  # noqa: E402
from iconodex.models.catalog import CATALOG  # noqa: E402

TOLERANCE = 1e-4
TEXTS = [
    "a photo of a cat",
    "A Photo of  a DOG on the grass",
    "ein Haus am See",
    "kedi ve köpek bahçede",
    "une carte ancienne de la ville",
    "",
    " ".join(tiny.CORPUS),  # longer than every context: truncation
]


def pictures() -> dict[str, Image.Image]:
    chelsea = Image.fromarray(data.chelsea())
    cut_out = Image.fromarray(data.coffee())  # a PNG cut-out: hidden pixels keep their colours
    cut_out.putalpha(Image.fromarray(data.camera()).resize(cut_out.size))
    return {
        "astronaut": Image.fromarray(data.astronaut()),
        "chelsea (landscape)": chelsea,
        "chelsea (portrait)": chelsea.transpose(Image.Transpose.ROTATE_90),
        "camera (greyscale)": Image.fromarray(data.camera()),
        "coffee (transparent)": cut_out,
        "chelsea (palette)": chelsea.quantize(64),
        "rocket": Image.fromarray(data.rocket()),
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Each family's original and its iconodex encoder, built once for the module."""
    cache = tmp_path_factory.mktemp("hub")
    found = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_CACHE", str(cache))
        patch.setenv("HF_HUB_OFFLINE", "1")
        for name, build in originals.ORIGINALS.items():
            original = build(tmp_path_factory.mktemp(name))
            tiny.write_hub_repo(cache, CATALOG[name].repo_id, original.files)
            found[name] = original, load_model(name, device="cpu", prompt="")
    return found


def _worst(ours: np.ndarray, theirs: np.ndarray, labels) -> tuple[float, str]:
    diffs = np.abs(ours - theirs).max(axis=1)
    return float(diffs.max()), list(labels)[int(diffs.argmax())]


@pytest.mark.parametrize("name", list(originals.ORIGINALS))
def test_image_vectors_equal_the_originals(built, name):
    original, encoder = built[name]
    named = pictures()
    worst, where = _worst(encoder.embed_images(list(named.values()))["image"], original.images(list(named.values())),
                          named)
    assert worst < TOLERANCE, f"{name}: {where} differs by {worst:.2e}"


@pytest.mark.parametrize("name", list(originals.ORIGINALS))
def test_text_vectors_equal_the_originals(built, name):
    original, encoder = built[name]
    # M-CLIP's original reads up to 512 tokens; Immich's export (the one iconodex loads) is fixed at 77.
    texts = [text for text in TEXTS if name != "mclip-xlmr-b32" or len(text) < 77]
    worst, where = _worst(encoder.embed_texts(texts, query=False), original.texts(texts), texts)
    assert worst < TOLERANCE, f"{name}: {where[:40]!r} differs by {worst:.2e}"
