"""``.fbin``: the matrix format of USearch/FAISS benchmarks and the UForm seed.

Layout: int32 rows, int32 dims, then float32 row-major data, little-endian. The writer streams:
it writes a header with 0 rows, appends rows, and patches the row count on close.
"""

from __future__ import annotations

import struct
from pathlib import Path
from types import TracebackType

import numpy as np

from ..errors import SourceError

HEADER = struct.Struct("<ii")


class FbinWriter:
    def __init__(self, path: Path, dims: int) -> None:
        self.path = Path(path)
        self.dims = dims
        self.rows = 0
        self._file = self.path.open("wb")
        self._file.write(HEADER.pack(0, dims))

    def write(self, matrix: np.ndarray) -> None:
        matrix = np.ascontiguousarray(matrix, dtype="<f4")
        if matrix.ndim != 2 or matrix.shape[1] != self.dims:
            raise ValueError(f"expected (n, {self.dims}) rows, got {matrix.shape}")
        self._file.write(matrix.tobytes())
        self.rows += len(matrix)

    def close(self) -> None:
        if self._file.closed:
            return
        self._file.seek(0)
        self._file.write(HEADER.pack(self.rows, self.dims))
        self._file.close()

    def __enter__(self) -> FbinWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def read_fbin(path: Path) -> np.ndarray:
    """The matrix as a read-only memory map: rows are read from disk only when touched."""
    path = Path(path)
    size = path.stat().st_size
    if size < HEADER.size:
        raise SourceError(f"{path} is not an .fbin file (only {size} bytes)")
    with path.open("rb") as handle:
        rows, dims = HEADER.unpack(handle.read(HEADER.size))
    if rows < 0 or dims <= 0 or size != HEADER.size + rows * dims * 4:
        raise SourceError(f"{path} is not a valid .fbin file: header says {rows}x{dims} float32, "
                          f"file has {size - HEADER.size} data bytes")
    if rows == 0:
        return np.zeros((0, dims), dtype=np.float32)
    return np.memmap(path, dtype="<f4", mode="r", offset=HEADER.size, shape=(rows, dims))


def write_fbin(path: Path, matrix: np.ndarray) -> None:
    with FbinWriter(path, int(np.asarray(matrix).shape[1])) as writer:
        writer.write(matrix)
