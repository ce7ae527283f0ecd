"""Images per second for any CLIP-family model available here (cached, or a local directory).

    python benchmarks/bench_models.py uform3-multilingual clip-vit-b32 --images 256
    python benchmarks/bench_models.py /path/to/model-dir --device cpu

Synthetic photos-like images (noise over gradients, varied sizes) go through the whole encoder:
per-image resize/crop, batched normalisation, ONNX Runtime. Models are loaded offline, so this never
downloads anything; an uncached model is reported and skipped. The first batch is a warm-up.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

from iconodex.errors import IconodexError
from iconodex.models.clip import load_clip


def synthetic_images(count: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    sizes = [(640, 480), (480, 640), (800, 800), (1024, 683)]
    images = []
    for index in range(count):
        width, height = sizes[index % len(sizes)]
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        pixels = np.clip(ramp + rng.normal(0, 40, (height, width, 3)), 0, 255).astype(np.uint8)
        images.append(Image.fromarray(pixels, "RGB"))
    return images


def bench(name: str, images: list[Image.Image], batch: int, device: str) -> dict[str, object]:
    encoder = load_clip(name, offline=True, device=device)
    encoder.embed_images(images[:batch])  # warm-up: session initialisation, allocator
    began = time.perf_counter()
    for start in range(0, len(images), batch):
        encoder.embed_images(images[start : start + batch])
    image_seconds = time.perf_counter() - began
    texts = [f"a photo of item {index}" for index in range(len(images))]
    began = time.perf_counter()
    encoder.embed_texts(texts, query=True)
    text_seconds = time.perf_counter() - began
    return {"model": name, "providers": ",".join(encoder.providers), "dims": encoder.dims,
            "images/s": round(len(images) / image_seconds, 1), "texts/s": round(len(texts) / text_seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="catalog names, hub ids or local model directories")
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32, help="images per embed_images call (as ingest does)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    images = synthetic_images(args.images)
    for name in args.models:
        try:
            print(bench(name, images, args.batch, args.device))
        except IconodexError as err:
            print({"model": name, "skipped": str(err)})


if __name__ == "__main__":
    main()
