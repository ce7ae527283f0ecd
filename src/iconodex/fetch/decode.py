"""Turn bytes or a file into a small RGB picture a model can use, or a one-line reason why not.

Models look at ~224 px, so decoding a 12 MP JPEG at full size wastes most of the work: libjpeg
can decode at a reduced scale directly, through ``simplejpeg`` when it is installed (the ``jpeg``
extra: any M/8 scale, straight into an array; at the same scale it costs what Pillow does,
bench_ingest.py) or else Pillow's ``draft`` mode (1/2, 1/4 or 1/8); a file
simplejpeg finds fault with goes to Pillow. JPEG 2000 is decoded at the smallest of its own resolution
levels that is large enough (9–48× faster for 12–48 MP masters, bench_decode_jpeg2000.py). Everything
else is decoded and at once box-reduced by
an integer factor, before any mode conversion, so a 36 MP 16-bit PNG costs its own 72 MB and no
float or RGB copies of it. Sizes are read from the header *before*
any pixel is decoded, so a decompression bomb costs nothing, and concurrent decodes share one
memory budget (``DECODE_BUDGET``), so eight big uploads at once wait in turn instead of adding up.
"""

from __future__ import annotations

import errno
import io
import math
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from ..errors import DecodeError

try:  # optional (the ``jpeg`` extra): without it Pillow decodes JPEGs, at 1/2, 1/4 or 1/8 scale only
    import simplejpeg as SCALED_JPEG
except ImportError:  # pragma: no cover - depends on the install
    SCALED_JPEG = None

DEFAULT_MAX_PIXELS = 100_000_000
DEFAULT_MIN_SIDE = 224
DEFAULT_DECODE_BUDGET = 512 * 2**20  # bytes of pixels that all threads' decodes may hold at once

# Magic numbers of formats Pillow can decode (JPEG 2000 only when built with OpenJPEG).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xffO\xffQ", "JPEG 2000"),
)
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")

# Bytes per pixel as Pillow stores each mode (8-bit RGB is padded to 4); other modes take 4.
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_REDUCIBLE = {"L", "LA", "La", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "I", "F"}
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
              7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
_ROWS_PER_STEP = 256  # high-depth rows converted per step: bounds the float working copy

_ERRNO_REASONS = {
    errno.ENOENT: "no such file",
    errno.EISDIR: "is a directory, not an image",
    errno.ELOOP: "symbolic link loop",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


class DecodeBudget:
    """Bytes of decoded pixels that concurrent decodes may hold together; a decode waits for room.

    A picture larger than the whole budget still decodes, alone. Waiting happens in the decoding
    thread, so callers that must stay responsive decode in a pool of their own.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held = 0
        self._room = threading.Condition()

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        need = min(nbytes, self.limit)
        with self._room:
            self._room.wait_for(lambda: self._held + need <= self.limit)
            self._held += need
        try:
            yield
        finally:
            with self._room:
                self._held -= need
                self._room.notify_all()


DECODE_BUDGET = DecodeBudget(DEFAULT_DECODE_BUDGET)


def sniff_format(data: bytes) -> str | None:
    """The image format ``data`` starts with ("JPEG", "PNG"…), or None (cheap, header only)."""
    head = bytes(data[:16])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "AVIF"
    return next((name for magic, name in _SIGNATURES if head.startswith(magic)), None)


def sniff_is_image(data: bytes) -> bool:
    """True when ``data`` starts like an image format Pillow can decode."""
    return sniff_format(data) is not None


def describe_non_image(data: bytes) -> str:
    """A short human description of bytes that are not an image (for error messages)."""
    head = bytes(data[:512]).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "an HTML page, not an image"
    if head.startswith(b"<?xml") or head.startswith(b"<svg"):
        return "an XML/SVG document, not a raster image"
    if head.startswith((b"{", b"[")):
        return "JSON, not an image"
    if head.startswith(b"%pdf"):
        return "a PDF, not an image"
    if _looks_like_text(head):
        return "text, not an image"
    return "not a recognised image format"


def decode_image(
    data: bytes | str | os.PathLike[str],
    min_side: int = DEFAULT_MIN_SIDE,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    final_resize: bool = True,
) -> Image.Image:
    """Decode to an RGB image reduced (never enlarged) so its *shorter* side is ``min_side``.

    A model resizes the shorter side to its input size and centre-crops, so anything larger than
    ``min_side`` on the short side is wasted work. EXIF orientation is applied; transparency is
    composited on white; animations and multi-page files give their first frame.
    ``final_resize=False`` stops after the cheap reductions (JPEG's DCT scaling, integer box
    reduction), leaving the shorter side between ``min_side`` and about twice that: for a caller
    that resamples anyway (a model's own resize), so the picture is resampled once, not twice.
    Raises ``DecodeError`` (one line; prefixed with the file name for paths).
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        return _decode_bytes(bytes(data), min_side, max_pixels, final_resize)
    path = Path(data)
    try:
        return _decode_bytes(_read_file(path), min_side, max_pixels, final_resize)
    except DecodeError as exc:
        raise DecodeError(f"{path}: {exc}") from None


def describe_os_error(exc: OSError) -> str:
    """A short reason for a file that cannot be read ("symbolic link loop", "permission denied")."""
    return _ERRNO_REASONS.get(exc.errno or 0) or (exc.strerror or _one_line(exc)).lower()


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DecodeError(describe_os_error(exc)) from None


def _decode_bytes(raw: bytes, min_side: int, max_pixels: int, final_resize: bool) -> Image.Image:
    if not raw:
        raise DecodeError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Our own pixel cap is checked from the header; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # Pillow's notes on damaged metadata
            with Image.open(io.BytesIO(raw)) as img:
                _refuse_bombs(img, max_pixels)
                scaled = _scaled_jpeg(img, raw, min_side)
                _draft_for(img, min_side)  # also the budget's measure: at least simplejpeg's scale
                _reduce_jpeg2000(img, raw, min_side)
                with DECODE_BUDGET.reserve(_decoded_bytes(img)):
                    loaded = scaled() if scaled is not None else _loaded(img)
                    picture = _to_rgb(_oriented(_shrunk(loaded, min_side), _orientation(img)))
                    return _reduce(picture, min_side) if final_resize else picture
    except DecodeError:
        raise
    except UnidentifiedImageError:
        kind = sniff_format(raw)
        reason = f"corrupt {kind} data (unreadable header)" if kind else describe_non_image(raw)
        raise DecodeError(reason) from None
    except Image.DecompressionBombError as exc:
        raise DecodeError(_bomb_reason(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, MemoryError) as exc:
        # Pillow's plugins report corrupt data with a zoo of exception types.
        raise DecodeError(f"corrupt or truncated image data ({_one_line(exc)})") from None


def _refuse_bombs(img: Image.Image, max_pixels: int) -> None:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise DecodeError(f"invalid image size {width}x{height}")
    cap = max_pixels
    if Image.MAX_IMAGE_PIXELS:  # an operator may have tightened Pillow's own guard
        cap = min(cap, 2 * int(Image.MAX_IMAGE_PIXELS))
    if width * height > cap:
        raise DecodeError(
            f"refused: {width}x{height} is {width * height / 1e6:.0f} megapixels, "
            f"above the {cap / 1e6:.0f} MP limit (a decompression bomb?)"
        )


def _bomb_reason(exc: Image.DecompressionBombError) -> str:
    """Pillow refused the size in ``open``, before our own check could word it."""
    match = _BOMB_PIXELS.search(str(exc))
    size = f"{int(match.group(1)) / 1e6:.0f} megapixels" if match else "too many pixels"
    return f"refused: {size}, above Pillow's limit (a decompression bomb?)"


def _scaled_jpeg(img: Image.Image, raw: bytes, min_side: int) -> Callable[[], Image.Image] | None:
    """simplejpeg's decode of a plain (YCbCr or grey) JPEG at the smallest M/8 scale that keeps the
    shorter side ≥ ``min_side``, falling back to Pillow, drafted by then, for a file it finds fault
    with (it is stricter: "extraneous bytes before marker" is an error there); None where Pillow decodes."""
    if SCALED_JPEG is None or img.format != "JPEG" or img.mode not in ("RGB", "L"):
        return None
    width, height = img.size
    scale = min(1.0, min_side / min(width, height))
    size = {"min_width": math.ceil(width * scale), "min_height": math.ceil(height * scale)}

    def decode() -> Image.Image:
        try:
            pixels = SCALED_JPEG.decode_jpeg(raw, colorspace="RGB" if img.mode == "RGB" else "GRAY", **size)
        except ValueError:
            return _loaded(img)  # drafted already (the budget's measure)
        return Image.fromarray(pixels if img.mode == "RGB" else pixels[:, :, 0])

    return decode


def _loaded(img: Image.Image) -> Image.Image:
    img.load()
    return img


def _draft_for(img: Image.Image, min_side: int) -> None:
    """Let JPEG decode at a reduced scale that still keeps the shorter side ≥ ``min_side``."""
    if img.format not in ("JPEG", "MPO"):  # MPO: multi-picture JPEG from cameras
        return
    width, height = img.size
    scale = min_side / min(width, height)
    if scale < 1:
        img.draft(img.mode, (math.ceil(width * scale), math.ceil(height * scale)))


def _reduce_jpeg2000(img: Image.Image, raw: bytes, min_side: int) -> None:
    """Let JPEG 2000 decode at the smallest of its resolution levels that keeps the shorter side
    ≥ ``min_side``: a master of tens of megapixels costs a sixty-fourth as much at 1/8. Never more
    halvings than the codestream has (OpenJPEG refuses those)."""
    if img.format != "JPEG2000":
        return
    halvings = int(math.log2(min(img.size) / min_side)) if min(img.size) > min_side else 0
    img.reduce = min(halvings, _jpeg2000_levels(raw))


def _jpeg2000_levels(raw: bytes) -> int:
    """The decomposition levels in a JPEG 2000 codestream's COD marker segment (how many times it can be
    halved as it is decoded); 0 when the header cannot be read that far."""
    at = raw.find(b"\xff\x4f\xff\x51")  # SOC then SIZ: where the codestream starts, in a .jp2 box or bare
    if at < 0:
        return 0
    at += 2
    while at + 10 <= len(raw) and raw[at] == 0xFF:
        marker, length = raw[at + 1], int.from_bytes(raw[at + 2:at + 4], "big")
        if marker == 0x52:  # COD: length (2), Scod (1), SGcod (4), then SPcod's decomposition levels
            return raw[at + 9]
        if marker == 0x90:  # the first tile: past the main header
            return 0
        at += 2 + length
    return 0


def _decoded_bytes(img: Image.Image) -> int:
    """What the decoded picture will hold, plus the full-size RGB copy of a mode that cannot be
    reduced before its conversion (palette, 1-bit); the others' later steps work on a small copy."""
    width, height = img.size
    if img.format == "JPEG2000" and isinstance(img.reduce, int):  # its size changes only as it loads
        width, height = -(-width >> img.reduce), -(-height >> img.reduce)
    converted_first = img.mode not in _REDUCIBLE and not img.mode.startswith("I;16")
    return width * height * (_STORED_BYTES.get(img.mode, 4) + (4 if converted_first else 0))


def _shrunk(img: Image.Image, min_side: int) -> Image.Image:
    """Box-reduce by the largest integer factor that keeps the shorter side ≥ ``min_side``, so
    every later step (orientation, mode conversion, the final resize) works on a small picture."""
    factor = max(1, min(img.size) // min_side)
    if img.mode.startswith("I;16"):  # Pillow cannot reduce these; numpy can, a band at a time
        return _sixteen_to_grey(img, factor)
    if factor < 2 or img.mode not in _REDUCIBLE:
        return img
    return Image.Image.reduce(img, factor)  # a JPEG 2000 file's own ``reduce`` is its decode setting


def _sixteen_to_grey(img: Image.Image, factor: int) -> Image.Image:
    """16-bit greyscale → reduced 8-bit L, converting a band of rows at a time (never a full copy)."""
    width, height = img.size
    _low, top = img.getextrema()
    step = factor * max(1, _ROWS_PER_STEP // factor)  # whole reduction blocks per band
    bands = []
    for row in range(0, height, step):
        values = np.asarray(img.crop((0, row, width, min(height, row + step))), dtype=np.uint32)
        grey = Image.fromarray((values * 255 // 65535 if top > 255 else values).astype(np.uint8))
        bands.append(grey.reduce(factor) if factor > 1 else grey)
    stacked = Image.new("L", (bands[0].width, sum(band.height for band in bands)))
    offset = 0
    for band in bands:
        stacked.paste(band, (0, offset))
        offset += band.height
    return stacked


def _orientation(img: Image.Image) -> Image.Transpose | None:
    """The EXIF orientation's transpose; a broken EXIF block must not cost the picture."""
    try:
        return _TRANSPOSE.get(img.getexif().get(ExifTags.Base.Orientation, 1))
    except (OSError, ValueError, TypeError, KeyError, SyntaxError):
        return None


def _oriented(img: Image.Image, method: Image.Transpose | None) -> Image.Image:
    return img.transpose(method) if method is not None else img


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I", "F") or mode.startswith("I;16"):
        return _high_depth_to_rgb(img)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
        return _flatten_on_white(img.convert("RGBA"))
    try:
        return img.convert("RGB")
    except ValueError:
        raise DecodeError(f"unsupported colour mode {mode}") from None


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float images → 8 bit, keeping the full tonal range visible.

    Converted a band of rows at a time: a float64 copy of a whole tall picture would be 8 bytes
    a pixel (the picture is usually small by now, but a 400×100,000 strip is not reduced)."""
    values = np.asarray(img)
    top = max((_finite_max(values[row:row + _ROWS_PER_STEP]) for row in range(0, len(values), _ROWS_PER_STEP)),
              default=0.0)
    if img.mode == "F" and 0 < top <= 1.0:
        scale = 255.0  # float images in [0, 1]
    elif top > 255:
        scale = 255.0 / (65535.0 if top <= 65535 else top)
    else:
        scale = 1.0
    grey = np.empty(values.shape, dtype=np.uint8)
    for row in range(0, len(values), _ROWS_PER_STEP):
        band = np.nan_to_num(values[row:row + _ROWS_PER_STEP].astype(np.float64)) * scale
        grey[row:row + _ROWS_PER_STEP] = np.clip(band, 0, 255)
    return Image.fromarray(grey).convert("RGB")


def _finite_max(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else 0.0


def _flatten_on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _reduce(img: Image.Image, min_side: int) -> Image.Image:
    width, height = img.size
    shorter = min(width, height)
    if shorter <= min_side:
        return img
    scale = min_side / shorter
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    return printable / len(head) > 0.95


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
