"""decode_image: every kind of broken file gives a one-line reason; every mode ends as RGB."""

from __future__ import annotations

import io

import numpy as np
import pytest
from _images_fetch import BLUE, RED, broken_files, encoded, good_images, jpeg_bytes, png_claiming, write_zoo
from PIL import Image

from iconodex.errors import DecodeError
from iconodex.fetch.decode import decode_image, sniff_is_image


def _near(pixel: tuple[int, ...], color: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(int(a) - int(b)) <= tolerance for a, b in zip(pixel, color, strict=True))


def test_zoo_of_broken_files_gives_one_line_reasons_and_good_files_decode(tmp_path):
    expected = write_zoo(tmp_path)
    assert len(expected) >= 20
    for name, word in expected.items():
        with pytest.raises(DecodeError) as caught:
            decode_image(tmp_path / name)
        message = str(caught.value)
        assert "\n" not in message and name in message
        assert word.lower() in message.lower(), message
    for name in good_images():
        picture = decode_image(tmp_path / name)
        assert picture.mode == "RGB" and picture.size[0] > 0


def test_a_directory_named_like_an_image_is_refused(tmp_path):
    (tmp_path / "x.jpg").mkdir()
    with pytest.raises(DecodeError, match="directory"):
        decode_image(tmp_path / "x.jpg")


@pytest.mark.parametrize("name", sorted(broken_files()))
def test_broken_bytes_are_refused_without_a_path(name):
    data, word = broken_files()[name]
    with pytest.raises(DecodeError) as caught:
        decode_image(data)
    assert word.lower() in str(caught.value).lower()


def test_sniff_tells_images_from_other_bytes():
    for data in good_images().values():
        assert sniff_is_image(data)
    for data in (b"", b"<html></html>", b"hello", b'{"a": 1}'):
        assert not sniff_is_image(data)


def test_large_jpeg_is_reduced_so_the_shorter_side_matches():
    picture = decode_image(jpeg_bytes((4000, 3000)), 224)
    assert picture.size == (299, 224)


def test_small_pictures_are_never_enlarged():
    assert decode_image(jpeg_bytes((100, 50)), 224).size == (100, 50)


def test_pixel_cap_is_checked_from_the_header_and_is_configurable():
    with pytest.raises(DecodeError, match="megapixels"):
        decode_image(png_claiming(12000, 12000))  # 144 MP: under Pillow's own limit, over ours
    with pytest.raises(DecodeError, match="megapixels"):
        decode_image(jpeg_bytes((100, 100)), max_pixels=5_000)
    assert decode_image(jpeg_bytes((100, 100)), max_pixels=10_000).size == (100, 100)


def test_a_tightened_pillow_limit_is_honoured(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    with pytest.raises(DecodeError, match="megapixels|bomb"):
        decode_image(jpeg_bytes((100, 100)))


def test_exif_orientation_is_applied():
    stored = Image.new("RGB", (200, 100), BLUE)
    stored.paste(RED, (0, 0, 100, 100))  # left half red as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise: the stored left edge becomes the top
    picture = decode_image(encoded(stored, "JPEG", exif=exif.tobytes(), quality=95))
    assert picture.size == (100, 200)
    assert _near(picture.getpixel((50, 20)), RED) and _near(picture.getpixel((50, 180)), BLUE)


def test_palette_transparency_becomes_white():
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([0, 0, 0, 220, 20, 20] + [0] * 762)
    palette.paste(0, (0, 0, 10, 20))
    picture = decode_image(encoded(palette, "PNG", transparency=0))
    assert picture.getpixel((2, 2)) == (255, 255, 255)
    assert _near(picture.getpixel((15, 2)), RED)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(mode):
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    image.paste((200, 200, 200, 255), (10, 0, 20, 20))
    picture = decode_image(encoded(image.convert(mode), "PNG"))
    assert picture.mode == "RGB"
    assert picture.getpixel((2, 2)) == (255, 255, 255)
    assert _near(picture.getpixel((15, 2)), (200, 200, 200))


def test_cmyk_jpeg_becomes_rgb():
    picture = decode_image(encoded(Image.new("CMYK", (30, 30), (0, 255, 255, 0)), "JPEG"))
    assert picture.mode == "RGB" and _near(picture.getpixel((5, 5)), (255, 0, 0))


def test_16_bit_png_keeps_its_tonal_range():
    values = np.array([[0, 32768, 65535]] * 3, dtype=np.uint16)
    picture = decode_image(encoded(Image.fromarray(values), "PNG"))
    row = [picture.getpixel((x, 0))[0] for x in range(3)]
    assert row[0] == 0 and 120 <= row[1] <= 136 and row[2] == 255


@pytest.mark.parametrize(
    ("values", "expected"),
    [(np.array([[0.0, 0.5, 1.0]] * 3, dtype=np.float32), (0, 127, 255)), (np.array([[0, 100, 255]] * 3, dtype=np.int32), (0, 100, 255))],
)
def test_float_and_32_bit_tiffs_become_8_bit(values, expected):
    picture = decode_image(encoded(Image.fromarray(values), "TIFF"))
    row = tuple(picture.getpixel((x, 0))[0] for x in range(3))
    assert all(abs(a - b) <= 1 for a, b in zip(row, expected, strict=True))


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "TIFF"])
def test_animations_and_multipage_files_give_their_first_frame(fmt):
    frames = [Image.new("RGB", (32, 32), RED), Image.new("RGB", (32, 32), BLUE)]
    data = encoded(frames[0], fmt, save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert _near(decode_image(data).getpixel((16, 16)), RED)


# -- memory: a small upload must not cost the server gigabytes -------------------------------------

_PEAK_SCRIPT = """
import resource, sys, threading
sys.path.insert(0, {tests!r})
from _big_pictures import png16
from iconodex.fetch import decode
data = png16({width}, {height}, {colour})
if {budget}:
    decode.DECODE_BUDGET.limit = {budget}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
threads = [threading.Thread(target=decode.decode_image, args=(data, 448)) for _ in range({threads})]
for thread in threads: thread.start()
for thread in threads: thread.join()
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def _decode_peak_mb(width: int, height: int, colour: int, threads: int = 1, budget: int = 0) -> float:
    """How much a fresh process's peak memory grows while decoding (ru_maxrss only ever rises)."""
    import subprocess
    import sys
    from pathlib import Path

    script = _PEAK_SCRIPT.format(tests=str(Path(__file__).parent), width=width, height=height, colour=colour,
                                 threads=threads, budget=budget)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    return float(done.stdout.split()[-1])


def test_a_6000px_16_bit_greyscale_png_decodes_in_little_memory():
    from _big_pictures import GREY, png16

    # 36 MP × 2 bytes is 72 MB as Pillow stores it; float copies of it used to cost 1.2 GB.
    assert _decode_peak_mb(6000, 6000, GREY) < 150
    picture = decode_image(png16(1200, 600, GREY), 224)
    assert picture.mode == "RGB" and picture.size == (448, 224)
    assert picture.getpixel((0, 0))[0] < picture.getpixel((40, 0))[0]  # the ramp survives


def test_a_36_megapixel_16_bit_rgb_png_is_decoded_without_copies():
    from _big_pictures import RGB

    # Pillow holds it as 8-bit RGBX: 144 MB; an orientation copy made it 290 MB.
    assert _decode_peak_mb(7200, 5000, RGB) < 200


def test_concurrent_decodes_share_one_memory_budget():
    from _big_pictures import RGB

    # Four threads decoding 144 MB pictures at once would hold ~580 MB; a 200 MB budget runs them in turn.
    assert _decode_peak_mb(7200, 5000, RGB, threads=4, budget=200 * 2**20) < 260


def _photo(size: tuple[int, int]) -> Image.Image:
    import skimage

    return Image.open(f"{skimage.data_dir}/astronaut.png").convert("RGB").resize(size, Image.Resampling.BICUBIC)


def _jpeg2000(size: tuple[int, int], **save: object) -> bytes:
    """A photo-like JPEG 2000 (the scikit-image astronaut, enlarged), as digitisation masters are."""
    raw = io.BytesIO()
    _photo(size).save(raw, format="JPEG2000", **save)
    return raw.getvalue()


@pytest.mark.parametrize("codestream", [False, True])
def test_a_jpeg2000_is_decoded_at_the_smallest_halving_that_keeps_the_shorter_side(monkeypatch, codestream):
    """A 12 MP master was decoded whole to be cut down to 260 pixels; its resolution levels give the 1/8
    picture directly (9–18× faster, bench_decode_jpeg2000.py), which the model sees as it sees the original."""
    from iconodex.fetch import decode
    from iconodex.models import load_model

    raw = _jpeg2000((4000, 3000), **({"no_jp2": True} if codestream else {}))
    assert decode._jpeg2000_levels(raw) == 5  # OpenJPEG's default: six resolutions
    assert decode_image(raw, 256, final_resize=False).size == (500, 375)  # 3 levels left out: 4000 / 8
    reduced = decode_image(raw, 260)
    monkeypatch.setattr(decode, "_jpeg2000_levels", lambda raw: 0)
    whole = decode_image(raw, 260)
    assert reduced.size == whole.size == (347, 260)
    vectors = load_model("offline").embed_images([reduced, whole, _photo((4000, 3000))])["visual"]
    to_original = vectors[:2] @ vectors[2]
    assert to_original[0] > 0.98 and to_original[0] >= to_original[1] - 0.01, to_original


def test_a_jpeg2000_with_fewer_levels_is_halved_only_as_often_as_it_can_be():
    from iconodex.fetch import decode

    raw = _jpeg2000((2048, 1536), num_resolutions=2)  # one decomposition level
    assert decode._jpeg2000_levels(raw) == 1
    assert decode_image(raw, 256).size in ((341, 256), (342, 256))  # 1024 × 768 then resized
