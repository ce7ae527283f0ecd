"""The vectors of a saved USearch file as one memory-mapped NumPy matrix, found by key.

``Index.get`` makes one array per key (1.5–3 µs each: a filter's 15k items took 25–50 ms to fetch,
more than the search). A saved file holds every vector in one matrix in slot order, and each graph
node starts with its slot's key: read once per file, those keys map a key to its row, and scoring
a filter's items exactly is one gather and one matrix product.

The layout (USearch 2.x, ``index_dense_gt::save_to_stream``): uint32 rows and bytes per row, the
rows; a 64-byte head (``usearch``, version, metric, scalar, key and slot kinds, counts, dims);
the graph's size, connectivity, base connectivity, top level and entry slot (5 × uint64); one
int16 level per node; then the nodes: a uint64 key, an int16 level, and per level a uint32 count
with that level's neighbour slots (uint32; ``base connectivity`` of them on level 0). A removed
slot's key reads as 2⁶⁴−1. A file laid out otherwise (another version or scalar, sizes that do not
add up, a key twice, a sampled row that differs from ``Index.get``) gives no rows, and reads go
through ``Index.get`` as before.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from usearch.index import Index

HEAD = 64
GRAPH_HEADER = 40
FREE_KEY = np.iinfo(np.uint64).max
SCALARS = {0x0B: np.float32, 0x0C: np.float16}  # USearch's scalar kinds f32 and f16
KEY_U64, SLOT_U32 = 0x0E, 0x0F
SAMPLED = 8  # rows compared with Index.get before the file is trusted


class FileRows:
    """Key → vector lookups in a memory-mapped index file."""

    def __init__(self, keys: np.ndarray, rows: np.ndarray, matrix: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._rows = rows[order]
        self._matrix = matrix

    def get(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vectors as float32, present mask) for ``keys`` (uint64)."""
        if len(self._keys) == 0 or len(keys) == 0:
            return np.zeros((len(keys), self._matrix.shape[1]), dtype=np.float32), np.zeros(len(keys), dtype=bool)
        at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        present = self._keys[at] == keys
        if present.all():  # one copy, the usual case (a filter's keys are indexed)
            return np.asarray(self._matrix.take(self._rows[at], axis=0), dtype=np.float32), present
        out = np.zeros((len(keys), self._matrix.shape[1]), dtype=np.float32)
        out[present] = self._matrix.take(self._rows[at[present]], axis=0)
        return out, present


def file_rows(path: Path, index: Index) -> FileRows | None:
    """``path``'s vectors by key, or None when its layout is not the one described above."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    found = _layout(raw, index)
    if found is None:
        return None
    keys, matrix = found
    live = np.flatnonzero(keys != FREE_KEY)
    if len(np.unique(keys[live])) != len(live):
        return None
    rows = FileRows(keys[live], live, matrix)
    sample = keys[live[np.linspace(0, len(live) - 1, min(SAMPLED, len(live))).astype(np.int64)]]
    if len(sample):
        expected = np.asarray(index.get(sample, dtype=np.float32), dtype=np.float32).reshape(len(sample), -1)
        if not np.array_equal(rows.get(sample)[0], expected):
            return None
    return rows


def _layout(raw: np.ndarray, index: Index) -> tuple[np.ndarray, np.ndarray] | None:
    """(key of each slot, the vector matrix) read from the file's bytes."""
    if len(raw) < 8:
        return None
    count, width = struct.unpack("<2I", raw[:8].tobytes())
    at = 8 + count * width
    head = raw[at:at + HEAD].tobytes()
    if len(head) < HEAD or head[:7] != b"usearch" or struct.unpack("<H", head[7:9])[0] != 2:
        return None
    scalar = SCALARS.get(head[14])
    dims = struct.unpack("<Q", head[33:41])[0]
    if scalar is None or head[15] != KEY_U64 or head[16] != SLOT_U32 or dims != index.ndim \
            or width != dims * np.dtype(scalar).itemsize:
        return None
    at += HEAD
    size, connectivity, base, _, _ = struct.unpack("<5Q", raw[at:at + GRAPH_HEADER].tobytes())
    at += GRAPH_HEADER
    if size != count:
        return None
    levels = np.frombuffer(raw[at:at + 2 * size].tobytes(), dtype="<i2").astype(np.int64)
    at += 2 * size
    node_bytes = 10 + 4 + 4 * base + levels * (4 + 4 * connectivity)
    if len(levels) != size or at + int(node_bytes.sum()) != len(raw):
        return None
    starts = at + np.cumsum(node_bytes) - node_bytes
    keys = np.zeros(size, dtype=np.uint64)
    for byte in range(8):  # the little-endian uint64 at each node's start, a byte at a time
        keys |= raw[starts + byte].astype(np.uint64) << np.uint64(8 * byte)
    matrix = np.ndarray((count, dims), dtype=scalar, buffer=raw, offset=8)
    return keys, matrix
