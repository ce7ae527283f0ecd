"""JPEG decoders that scale in the DCT (libjpeg-turbo's 1/8 … 8/8), compared for bench_ingest.py.

Each turns JPEG bytes into a picture whose shorter side is at least ``side``, as cheaply as it can;
the model's own resize and crop (``fit_image``) then follows, the same for all. An optional package
that is not installed gives a row saying so.
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

os.environ.setdefault("VIPS_CONCURRENCY", "1")  # one thread, like the others: ingest runs decodes side by side

Decoder = Callable[[bytes, int], Image.Image]


def ingest_decode(raw: bytes, side: int) -> Image.Image:
    """What ingest does: ``decode_image`` (simplejpeg when installed), orientation, RGB; no resampling."""
    from iconodex.fetch.decode import decode_image

    return decode_image(raw, side, final_resize=False)


def pillow_draft(raw: bytes, side: int, final_resize: bool = False) -> Image.Image:
    """``decode_image`` without simplejpeg: Pillow's draft mode (1/2, 1/4, 1/8)."""
    from iconodex.fetch import decode

    installed, decode.SCALED_JPEG = decode.SCALED_JPEG, None
    try:
        return decode.decode_image(raw, side, final_resize=final_resize)
    finally:
        decode.SCALED_JPEG = installed


def pillow_draft_resampled(raw: bytes, side: int) -> Image.Image:
    """What ingest did before: Pillow's draft, then a bicubic resize to ``side`` (a second resampling)."""
    return pillow_draft(raw, side, final_resize=True)


def _scaled(width: int, height: int, side: int, factors: list[tuple[int, int]]) -> tuple[int, int]:
    """The smallest scaling factor (num, den) that keeps the shorter side ≥ ``side`` (libjpeg rounds up)."""
    short = min(width, height)
    fitting = [f for f in factors if f[0] <= f[1] and math.ceil(short * f[0] / f[1]) >= side]
    return min(fitting, key=lambda f: f[0] / f[1]) if fitting else (1, 1)


def simplejpeg_scaled(raw: bytes, side: int) -> Image.Image:
    import simplejpeg

    height, width, _, _ = simplejpeg.decode_jpeg_header(raw)
    scale = side / min(width, height)
    pixels = simplejpeg.decode_jpeg(raw, colorspace="RGB", min_height=math.ceil(height * min(1, scale)),
                                    min_width=math.ceil(width * min(1, scale)))
    return Image.fromarray(pixels)


def turbojpeg_scaled(raw: bytes, side: int) -> Image.Image:
    import turbojpeg

    decoder = _turbo()
    width, height, _, _ = decoder.decode_header(raw)
    factor = _scaled(width, height, side, sorted(decoder.scaling_factors))
    return Image.fromarray(decoder.decode(raw, pixel_format=turbojpeg.TJPF_RGB, scaling_factor=factor))


_TURBO: list = []


def _turbo():
    if not _TURBO:
        import turbojpeg

        _TURBO.append(turbojpeg.TurboJPEG())
    return _TURBO[0]


def vips_shrink_on_load(raw: bytes, side: int) -> Image.Image:
    import pyvips

    header = pyvips.Image.new_from_buffer(raw, "", access="sequential")
    shrink = next((k for k in (8, 4, 2) if math.ceil(min(header.width, header.height) / k) >= side), 1)
    return _from_vips(pyvips.Image.jpegload_buffer(raw, shrink=shrink, access="sequential"))


def vips_thumbnail(raw: bytes, side: int) -> Image.Image:
    """libvips' own pipeline to ``side`` exactly: shrink-on-load, then its lanczos3 reduce."""
    import pyvips

    header = pyvips.Image.new_from_buffer(raw, "", access="sequential")
    scale = side / min(header.width, header.height)
    return _from_vips(pyvips.Image.thumbnail_buffer(raw, round(header.width * scale),
                                                    height=round(header.height * scale), size="down"))


def _from_vips(image) -> Image.Image:
    pixels = np.ndarray(buffer=image.write_to_memory(), dtype=np.uint8, shape=[image.height, image.width, image.bands])
    return Image.fromarray(pixels)


def available() -> dict[str, Decoder | str]:
    """Name → decoder, or → why it cannot run here."""
    try:
        import pyvips

        pyvips.cache_set_max(0)  # no operation cache: every picture is decoded for real
    except (ImportError, OSError):
        pass
    found: dict[str, Decoder | str] = {
        "Pillow draft, resampled twice (before)": pillow_draft_resampled,
        "Pillow draft (without the jpeg extra)": pillow_draft,
        "decode_image with simplejpeg (default with the jpeg extra)": ingest_decode,
        "simplejpeg alone, DCT scaling": simplejpeg_scaled,
        "PyTurboJPEG, scaling_factor": turbojpeg_scaled,
        "pyvips, shrink-on-load": vips_shrink_on_load,
        "pyvips thumbnail (its own lanczos3 resize)": vips_thumbnail,
    }
    probe = _probe_jpeg()
    for name, decoder in list(found.items()):
        try:
            decoder(probe, 16)
        except (ImportError, OSError, RuntimeError) as exc:
            found[name] = f"not available here ({' '.join(str(exc).split())[:80]})"
    return found


def _probe_jpeg() -> bytes:
    raw = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(raw, format="JPEG")
    return raw.getvalue()


def compare(paths: list, model) -> list[dict]:
    """Per decoder: CPU ms per picture (decode + the model's fit), interleaved picture by picture,
    and the worst vector difference to a full decode + the model's fit (the parity yardstick)."""
    from iconodex.models.base import fetch_side

    side = fetch_side(model)
    decoders = available()
    runnable = {name: d for name, d in decoders.items() if callable(d)}
    raws = [path.read_bytes() for path in paths]
    cpu = dict.fromkeys(runnable, 0.0)
    fitted: dict[str, list] = {name: [] for name in runnable}
    for index, raw in enumerate(raws):
        names = list(runnable)
        for name in names[index % len(names):] + names[:index % len(names)]:  # rotate who goes first
            began = time.process_time()
            fitted[name].append(model.fit_image(runnable[name](raw, side)))
            cpu[name] += time.process_time() - began
    reference = _vectors(model, [model.fit_image(Image.open(io.BytesIO(raw)).convert("RGB")) for raw in raws])
    resaved = _vectors(model, [model.fit_image(_resaved(raw)) for raw in raws])
    rows = [{"decoder": "JPEG q95 re-save of the full picture (yardstick)", **_gaps(resaved, reference)}]
    for name, decoder in decoders.items():
        if not callable(decoder):
            rows.append({"decoder": name, "note": decoder})
            continue
        rows.append({"decoder": name, "cpu_ms": 1000 * cpu[name] / len(raws),
                     **_gaps(_vectors(model, fitted[name]), reference)})
    return rows


def _resaved(raw: bytes) -> Image.Image:
    again = io.BytesIO()
    Image.open(io.BytesIO(raw)).convert("RGB").save(again, format="JPEG", quality=95)
    return Image.open(io.BytesIO(again.getvalue())).convert("RGB")


def _vectors(model, pictures: list) -> dict[str, np.ndarray]:
    parts = [model.embed_images(pictures[first:first + 32]) for first in range(0, len(pictures), 32)]
    return {space: np.concatenate([part[space] for part in parts]) for space in parts[0]}


def _gaps(ours: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per space: the worst and the mean 1 − cosine over the pictures."""
    gaps = {}
    for space in reference:
        distance = 1 - (ours[space] * reference[space]).sum(axis=1)
        gaps[space] = {"max": float(distance.max()), "mean": float(distance.mean())}
    return {"gaps": gaps}
