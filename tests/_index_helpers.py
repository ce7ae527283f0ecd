"""A collection with enough vectors that its index files have a graph part, the four ways an
index file gets damaged, and the CLI run as a user runs it (a subprocess, so a crash shows as
its exit status, e.g. 134 for an abort)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _serve_fixtures import SKIMAGE_DATA

from iconodex import Collection
from iconodex.formats.base import ImportReport
from iconodex.formats.loader import ImportWriter
from iconodex.records import SourceRecord

ICONODEX = [sys.executable, "-c", "from iconodex.cli import main; main()"]
WORDS = ("red", "boat", "harbour", "portrait", "map", "garden", "church", "bridge", "horse", "market")


def synthetic_collection(path: Path, items: int = 1500, seed: int = 7, **create: Any) -> Collection:
    """An offline-model collection of ``items`` records with titles and random unit vectors in
    every space of the model (made without images, in about a second), made with the ``create``
    options of :meth:`Collection.create`."""
    coll = Collection.create(path, **create)
    rng = np.random.default_rng(seed)
    records = [SourceRecord(id=f"item-{n:05d}", image=None, title=" ".join(rng.choice(WORDS, 3))) for n in range(items)]
    writer = ImportWriter(coll, ImportReport("synthetic"), "synthetic", "synthetic")
    for start in range(0, items, 500):
        chunk = records[start:start + 500]
        writer.add(chunk, {space: _unit(rng.standard_normal((len(chunk), dims)))
                           for space, dims in coll.model.spaces.items()})
    writer.finish()
    return coll


def _unit(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def pictures(folder: Path, names: tuple[str, ...] = ("chelsea.png", "coffee.png")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(SKIMAGE_DATA / name, folder / name)
    return folder


def index_files(coll_path: Path) -> list[Path]:
    """The usearch engine's files, in ``index/``, and the faiss engine's, in ``index/faiss/``."""
    return sorted([*(coll_path / "index").glob("*.usearch"), *(coll_path / "index").glob("faiss/*.faiss")])


def _overwrite_tail(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(max(0, size - 16384))
        handle.write(os.urandom(min(size, 16384)))


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _scramble_vectors(path: Path) -> None:
    """Random bytes over every vector: USearch saves them first, after (rows u32, row bytes u32);
    FAISS's ``IndexIDMap`` (dims i32 at 4, count i64 at 8) ends with them, then the count's uint64 labels."""
    with path.open("r+b") as handle:
        if path.suffix == ".faiss":
            head = handle.read(16)
            dims, rows = int(np.frombuffer(head[4:8], "<i4")[0]), int(np.frombuffer(head[8:16], "<i8")[0])
            handle.seek(path.stat().st_size - 8 - 8 * rows - 4 * dims * rows)
            handle.write(os.urandom(4 * dims * rows))
            return
        rows, row_bytes = np.frombuffer(handle.read(8), dtype="<u4")
        handle.write(os.urandom(int(rows) * int(row_bytes)))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "tail overwritten": _overwrite_tail,
    "truncated": _truncate,
    "deleted": Path.unlink,
    "random bytes in vectors": _scramble_vectors,
}


DAMAGES = [*DAMAGE, "index folder deleted"]


def damage(coll_path: Path, how: str) -> None:
    if how == "index folder deleted":  # spaces.json too: only the store still knows the spaces
        shutil.rmtree(coll_path / "index")
        return
    files = index_files(coll_path)
    assert files, "no index files to damage"
    for path in files:
        DAMAGE[how](path)


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*ICONODEX, *args], capture_output=True, text=True, timeout=timeout)


def cli_json(*args: str) -> object:
    done = cli(*args, "--json")
    assert done.returncode == 0, f"rc {done.returncode}: {done.stderr[-800:]}"
    return json.loads(done.stdout)


def ranking(results: list[dict]) -> list[tuple[str, float]]:
    return [(r["id"], round(r["score"], 4)) for r in results]
