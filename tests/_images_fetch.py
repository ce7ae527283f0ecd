"""Pictures for the fetch tests, generated on the fly: good ones in every mode, and a zoo of
broken files of the kinds real collections contain."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

from PIL import Image

RED = (220, 20, 20)
BLUE = (20, 20, 220)


def jpeg_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = RED, **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=90, **save)
    return buffer.getvalue()


def encoded(image: Image.Image, fmt: str, **save: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` × ``height`` (a decompression bomb's signature)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def bmp_claiming(width: int, height: int) -> bytes:
    """A BMP header claiming ``width`` × ``height`` with almost no pixel data behind it."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + 16, 0, 0, 14 + len(info)) + info + b"\0" * 16


def good_images() -> dict[str, bytes]:
    """One small valid picture per format a folder source accepts."""
    picture = Image.new("RGB", (40, 30), BLUE)
    return {
        "good.jpg": jpeg_bytes(),
        "good.JPEG": jpeg_bytes(color=BLUE),
        "good.png": encoded(picture, "PNG"),
        "good.webp": encoded(picture, "WEBP"),
        "good.tif": encoded(picture, "TIFF"),
        "good.gif": encoded(picture.convert("P"), "GIF"),
        "good.bmp": encoded(picture, "BMP"),
    }


def broken_files() -> dict[str, tuple[bytes, str]]:
    """File name → (bytes, a word the one-line reason must contain)."""
    jpeg = jpeg_bytes((400, 300))
    png = encoded(Image.new("RGB", (300, 200), RED), "PNG")
    return {
        "empty.jpg": (b"", "empty"),
        "zero-byte.gif": (b"", "empty"),
        "text-named.jpg": (b"this is a caption, not a picture\n", "text"),
        "error-page.png": (b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>", "HTML"),
        "json-error.jpg": (b'{"error": "forbidden"}', "JSON"),
        "vector.png": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        "document.jpg": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        "truncated.jpg": (jpeg[: len(jpeg) // 3], "truncated"),
        "header-only.jpg": (jpeg[:20], "corrupt"),
        "garbage-after-soi.jpg": (b"\xff\xd8\xff\xe0" + os.urandom(2000), "corrupt"),
        "truncated.png": (png[: len(png) // 2], "truncated"),
        "bad-crc.png": (png[:30] + b"\0\0\0\0" + png[34:], "corrupt"),
        "bomb.png": (png_claiming(60000, 60000), "megapixels"),
        "bomb.bmp": (bmp_claiming(60000, 60000), "megapixels"),
        "bad.tif": (b"II*\x00" + os.urandom(64), "corrupt"),
        "bad-big-endian.tiff": (b"MM\x00*\x00\x00\x00\x08" + b"\xff" * 40, "corrupt"),
        "gif-header-only.gif": (b"GIF89a\x10\x00\x10\x00", "corrupt"),
        "bad.bmp": (b"BM" + b"\x00" * 30, "corrupt"),
        "bad.webp": (b"RIFF\x20\x00\x00\x00WEBPVP8 " + os.urandom(24), "corrupt"),
        "random.webp": (os.urandom(4096), "not"),
    }


def write_zoo(folder: Path) -> dict[str, str]:
    """Write good and broken files plus the special cases that are not plain bytes.

    Returns broken file name → expected word in its reason (good files are ``good*``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in good_images().items():
        (folder / name).write_bytes(data)
    expected = {}
    for name, (data, word) in broken_files().items():
        (folder / name).write_bytes(data)
        expected[name] = word
    (folder / "a-directory.jpg").mkdir()
    (folder / "loop.jpg").symlink_to("loop.jpg")
    expected["loop.jpg"] = "loop"
    (folder / "dangling.jpg").symlink_to("does-not-exist.jpg")
    expected["dangling.jpg"] = "no such file"
    if os.geteuid() != 0:  # root reads everything, so the case cannot exist there
        (folder / "unreadable.jpg").write_bytes(jpeg_bytes())
        (folder / "unreadable.jpg").chmod(0)
        expected["unreadable.jpg"] = "permission"
    return expected
