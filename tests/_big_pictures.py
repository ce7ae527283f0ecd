"""Small files that decode to huge 16-bit pictures: the uploads that used to cost a server gigabytes.

Pillow cannot write 16-bit RGB, so the PNG is assembled by hand: a repeating ramp compresses
to a few hundred kilobytes while decoding to tens of megapixels.
"""

from __future__ import annotations

import struct
import zlib

GREY, RGB = 0, 2  # PNG colour types
_BANDS = {GREY: 1, RGB: 3}


def png16(width: int, height: int, colour: int = GREY) -> bytes:
    """A valid 16-bit PNG of ``width``×``height`` (greyscale or RGB) holding a horizontal ramp."""
    row_bytes = width * _BANDS[colour] * 2
    row = b"\x00" + (bytes(range(256)) * (row_bytes // 256 + 1))[:row_bytes]  # filter byte 0: none
    packer = zlib.compressobj(9)
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
