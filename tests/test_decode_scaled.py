"""JPEGs decoded by simplejpeg at libjpeg's M/8 scales (when installed) look as Pillow's draft decode
does: baseline, progressive, grey, EXIF-rotated and CMYK files alike, and a file only Pillow
tolerates still decodes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iconodex.fetch import decode
from iconodex.fetch.decode import decode_image

pytest.importorskip("simplejpeg")
SKIMAGE = Path(pytest.importorskip("skimage").__file__).parent / "data"


def _jpeg(picture: Image.Image, **save: object) -> bytes:
    raw = io.BytesIO()
    picture.save(raw, format="JPEG", quality=90, **save)
    return raw.getvalue()


def _photo(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    return Image.open(SKIMAGE / "astronaut.png").convert("RGB").resize(size, Image.Resampling.BICUBIC).convert(mode)


def _rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise
    return _jpeg(_photo((1600, 1200)), exif=exif.tobytes())


CASES = {
    "baseline": lambda: _jpeg(_photo((1600, 1200))),
    "progressive": lambda: _jpeg(_photo((1600, 1200)), progressive=True),
    "grey": lambda: _jpeg(_photo((1200, 1600), "L")),
    "exif-rotated": _rotated,
    "cmyk": lambda: _jpeg(_photo((1600, 1200), "CMYK")),
    "4:4:4": lambda: _jpeg(_photo((1600, 1200)), subsampling=0),
    "small": lambda: _jpeg(_photo((200, 150))),
}


def _with_pillow_only(monkeypatch: pytest.MonkeyPatch, raw: bytes, **options: object) -> Image.Image:
    with monkeypatch.context() as patched:
        patched.setattr(decode, "SCALED_JPEG", None)
        return decode_image(raw, 256, **options)


@pytest.mark.parametrize("name", sorted(CASES))
def test_simplejpeg_decodes_as_pillow_does(monkeypatch, name):
    raw = CASES[name]()
    ours, pillows = decode_image(raw, 256), _with_pillow_only(monkeypatch, raw)
    assert ours.mode == pillows.mode == "RGB" and ours.size == pillows.size
    difference = np.abs(np.asarray(ours, np.int16) - np.asarray(pillows, np.int16))
    assert difference.mean() < 0.5 and difference.max() <= 8, (difference.mean(), difference.max())


def test_a_jpeg_is_decoded_at_the_smallest_eighth_that_keeps_the_shorter_side():
    raw = _jpeg(_photo((1000, 750)))
    assert decode_image(raw, 256, final_resize=False).size == (375, 282)  # 3/8; Pillow's draft: 1/2


def test_exif_orientation_is_applied_to_the_scaled_decode():
    assert decode_image(_rotated(), 256, final_resize=False).size == (300, 400)


def test_a_file_simplejpeg_refuses_but_pillow_reads_still_decodes():
    raw = _jpeg(_photo((400, 300)))
    marker = raw.index(b"\xff\xdb")
    loose = raw[:marker] + b"\x00\x00" + raw[marker:]  # "extraneous bytes before marker": a warning to Pillow
    assert decode_image(loose, 256).size == (341, 256)


def test_a_truncated_jpeg_is_still_one_line_about_truncation():
    raw = _jpeg(_photo((400, 300)))
    with pytest.raises(decode.DecodeError, match="truncated"):
        decode_image(raw[: len(raw) // 2], 256)
