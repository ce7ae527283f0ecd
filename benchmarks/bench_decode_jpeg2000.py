"""JPEG 2000 masters decoded at one of their resolution levels, against decoding them whole.

Archives keep their digitised masters as JPEG 2000 (the format IIIF image servers read). A model
looks at ~260 pixels, so ``decode_image`` asks OpenJPEG for the smallest resolution level whose
shorter side is still large enough, instead of decoding every pixel and then reducing. Both ways run
in this process, interleaved, on the same files: the time per picture, and how the offline model sees
each result (visual cosine to its view of the original picture, before it was encoded).

    .venv/bin/python benchmarks/bench_decode_jpeg2000.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from _report import command_line, machine, markdown_table, no_options, publish
from PIL import Image

from iconodex.fetch import decode
from iconodex.models import load_model

DATA = Path(__file__).resolve().parent / "_data" / "jpeg2000"
SIZES = ((4000, 3000), (8000, 6000))  # 12 and 48 megapixels
ENCODINGS = {"lossless": {}, "lossy 20:1": {"irreversible": True, "quality_mode": "rates", "quality_layers": [20]}}
ROUNDS = 5
SIDE = 260  # the offline model's input


def original(size: tuple[int, int]) -> Image.Image:
    import skimage

    photo = Image.open(Path(skimage.data_dir) / "astronaut.png").convert("RGB")
    return photo.resize(size, Image.Resampling.BICUBIC)


def master(size: tuple[int, int], encoding: str) -> bytes:
    """A JPEG 2000 file of ``size`` (made once, kept in benchmarks/_data)."""
    path = DATA / f"{size[0]}x{size[1]}-{encoding.split()[0]}.jp2"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        original(size).save(path, format="JPEG2000", **ENCODINGS[encoding])
    return path.read_bytes()


def whole(raw: bytes) -> Image.Image:
    """``decode_image`` as it was: every pixel decoded, then reduced."""
    levels, decode._jpeg2000_levels = decode._jpeg2000_levels, lambda raw: 0
    try:
        return decode.decode_image(raw, SIDE)
    finally:
        decode._jpeg2000_levels = levels


def timed(how, raw: bytes) -> tuple[float, Image.Image]:
    start = time.perf_counter()
    picture = how(raw)
    return time.perf_counter() - start, picture


def main() -> None:
    args = no_options(__doc__)
    model = load_model("offline")
    rows = []
    for size in SIZES:
        seen = model.embed_images([original(size)])["visual"][0]
        for encoding in ENCODINGS:
            raw = master(size, encoding)
            times: dict[str, list[float]] = {"levels": [], "whole": []}
            pictures = {}
            for _ in range(ROUNDS):  # interleaved, so a busy moment hits both
                for name, how in (("levels", lambda r: decode.decode_image(r, SIDE)), ("whole", whole)):
                    seconds, pictures[name] = timed(how, raw)
                    times[name].append(seconds)
            vectors = model.embed_images([pictures["levels"], pictures["whole"]])["visual"]
            levels_ms, whole_ms = (statistics.median(times[n]) * 1e3 for n in ("levels", "whole"))
            rows.append([f"{size[0]}×{size[1]} ({size[0] * size[1] / 1e6:.0f} MP)", encoding,
                         f"{len(raw) / 1e6:.1f}", decode._jpeg2000_levels(raw), f"{levels_ms:.0f}", f"{whole_ms:.0f}",
                         f"**{whole_ms / levels_ms:.1f}×**", f"{float(vectors[0] @ seen):.4f}",
                         f"{float(vectors[1] @ seen):.4f}"])
    body = (f"*Machine:* {machine()}\n\n*Command:* `{command_line()}`\n\n"
            f"The scikit-image astronaut enlarged to each size and saved by Pillow (OpenJPEG; its default "
            f"five decomposition levels), decoded to a shorter side of {SIDE} px; median of {ROUNDS} interleaved "
            f"rounds. *Cosine*: the offline model's visual vector of the decoded picture against its vector of "
            f"the original picture, before it was encoded.\n\n"
            + markdown_table(["master", "encoding", "MB", "levels", "at its levels ms", "whole ms",
                              "whole ÷ levels", "cosine, levels", "cosine, whole"], rows))
    publish("decode-jpeg2000", "JPEG 2000 decoded at its resolution levels (bench_decode_jpeg2000.py)", body,
            write=not args.no_write)
    print(body)


if __name__ == "__main__":
    main()
