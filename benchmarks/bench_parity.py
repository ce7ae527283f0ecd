"""How close iconodex's vectors are to each model family's original code, and what ingest's decoding costs.

    pip install 'iconodex[parity]'
    PYTHONPATH=src python benchmarks/bench_parity.py              # --no-write: print only

1. Parity: the tiny models of tests/test_clip_parity.py (random weights, built in the original
   implementations, exported as the hub repositories were); worst absolute difference between
   iconodex's and the original's L2-normalised vectors over the test pictures and texts.
2. Ingest decodes a picture reduced to at least ``fetch_side`` (libjpeg's DCT scaling, no resize)
   and then runs the model's own resize, the only resampling; the other rows decode at other sides,
   among them the ones ingest used before it kept twice the network's input in both resize modes.
   For each decode side: the worst difference to the original on the fully decoded JPEG, and the
   decode time of a 24-megapixel JPEG. The yardstick is what re-saving the same picture as JPEG
   quality 95 does to the original's vector.
"""

from __future__ import annotations

import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import _parity_models as originals  # noqa: E402
import _tiny_models as tiny  # noqa: E402
from _report import markdown_table, no_options, publish  # noqa: E402

from iconodex.fetch.decode import decode_image  # noqa: E402
from iconodex.models import load_model  # noqa: E402
from iconodex.models.base import fetch_side  # noqa: E402
from iconodex.models.catalog import CATALOG  # noqa: E402

SKIMAGE = Path(__import__("skimage").__file__).parent / "data"
LARGER = ("retina.jpg", "hubble_deep_field.jpg", "motorcycle_left.png", "rocket.jpg", "astronaut.png", "coffee.png")
DECODED = ("clip-vit-b32", "openclip-vit-b32", "siglip2-base")


def earlier_sides(size: int) -> tuple[tuple[str, int], ...]:
    """Ingest's decode sides until 2026-11-25: 8/7 × input for squash models, 12/7 × for shortest-edge ones."""
    return (("8/7 × input (squash, before)", size * 8 // 7), ("12/7 × input (shortest, before)", size * 12 // 7))


def build_all(root: Path) -> dict:
    os.environ["HF_HUB_CACHE"], os.environ["HF_HUB_OFFLINE"] = str(root / "hub"), "1"
    built = {}
    for name, build in originals.ORIGINALS.items():
        original = build(Path(tempfile.mkdtemp(dir=root)))
        tiny.write_hub_repo(root / "hub", CATALOG[name].repo_id, original.files)
        built[name] = original, load_model(name, device="cpu", prompt="")
    return built


def worst(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max())


def cosine_gap(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Worst 1 − cosine: unlike a component difference, it does not shrink as the dimension grows."""
    return float((1 - (ours * theirs).sum(axis=1)).max())


def parity_rows(built: dict) -> list[list[str]]:
    pictures = list(originals.pictures().values())
    rows = []
    for name, (original, encoder) in built.items():
        texts = [t for t in originals.TEXTS if name != "mclip-xlmr-b32" or len(t) < 77]
        image = worst(encoder.embed_images(pictures)["image"], original.images(pictures))
        text = worst(encoder.embed_texts(texts, query=False), original.texts(texts))
        rows.append([f"`{name}`", f"{image:.1e}", f"{text:.1e}"])
    return rows


def jpeg(picture: Image.Image, quality: int = 95) -> bytes:
    raw = io.BytesIO()
    picture.convert("RGB").save(raw, format="JPEG", quality=quality)
    return raw.getvalue()


def decode_ms(raw: bytes, side: int, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        decode_image(raw, side, max_pixels=10**9, final_resize=False)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def decode_rows(built: dict) -> list[list[str]]:
    sources = [Image.open(SKIMAGE / name).convert("RGB") for name in LARGER]
    raws = [jpeg(picture) for picture in sources]
    full = [Image.open(io.BytesIO(raw)).convert("RGB") for raw in raws]
    big = jpeg(sources[0].resize((6000, 4000), Image.Resampling.BICUBIC), 90)
    rows = []
    for name in DECODED:
        original, encoder = built[name]
        reference = original.images(full)
        resaved = original.images(sources)
        resave = f"{worst(resaved, reference):.1e} / {cosine_gap(resaved, reference):.1e}"
        size = encoder.spec.image.output_size[0]
        for label, side in (("ingest (fetch_side)", fetch_side(encoder)), *earlier_sides(size),
                            ("4 × input", 4 * size), ("full picture", 10**6)):
            fitted = [encoder.fit_image(decode_image(raw, side, max_pixels=10**9, final_resize=False)) for raw in raws]
            ours = encoder.embed_images(fitted)["image"]
            rows.append([f"`{name}`", label, side if side < 10**6 else "—", f"{worst(ours, reference):.1e}",
                         f"{cosine_gap(ours, reference):.1e}", resave, f"{decode_ms(big, side):.0f}"])
    return rows


def main() -> None:
    args = no_options(__doc__)
    with tempfile.TemporaryDirectory() as root:
        built = build_all(Path(root))
        parity = markdown_table(["model", "image max abs diff", "text max abs diff"], parity_rows(built))
        decoding = markdown_table(["model", "decode side", "px", "max abs diff", "max 1 − cos",
                                   "JPEG q95 re-save (diff / 1 − cos)", "decode ms, 24 MP JPEG"], decode_rows(built))
    print(parity)
    body = ("Worst absolute difference between iconodex's vectors and the original's, tiny random models "
            "(tests/_parity_models.py) on scikit-image's larger pictures saved as JPEG q95.\n\n" + decoding)
    publish("parity-decoding", "Ingest decoding versus the originals (bench_parity.py)", body, write=not args.no_write)


if __name__ == "__main__":
    main()
