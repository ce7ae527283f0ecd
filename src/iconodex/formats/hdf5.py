"""HDF5 as the Open Images embedder writes it: ``urls`` (strings) and ``embeddings`` (n, d).

The embedder writes chunk files ``Images_Embedded_0.h5``, ``Images_Embedded_1.h5``… and merges
them into ``Images_Embedded.h5``. We write one file through resizable datasets (flat memory),
add an ``ids`` dataset when ids are not the URLs, and the model and space as file attributes.
Import takes one file or a folder of chunks (read in chunk order, as if merged);
:func:`merge_chunks` writes the merged file itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NotFoundError, SourceError
from ..extras import require
from ..records import SourceRecord
from . import FORMATS
from .base import ExportReport, ImportReport
from .rows import default_space, image_ref, image_url
from .single import Rows, check_dims, export_batches, import_batches

if TYPE_CHECKING:
    import h5py

    from ..collection import Collection

CHUNK_FILE = re.compile(r"_(\d+)\.h5$")
DEFAULT_MODEL = "clip-vit-b32"  # the embedder's OpenAI CLIP ViT-B/32


def _h5py():
    """h5py, or the pip line that brings it: it is an extra, not a default dependency."""
    return require("h5py", "formats", "the hdf5 format")


class Hdf5Writer:
    """Appends (ids, urls, vectors) to resizable datasets."""

    def __init__(self, handle: h5py.File, dims: int, *, with_ids: bool) -> None:
        h5py = _h5py()

        text = h5py.string_dtype("utf-8")
        self.urls = handle.create_dataset("urls", (0,), maxshape=(None,), dtype=text, chunks=(4096,))
        self.embeddings = handle.create_dataset("embeddings", (0, dims), maxshape=(None, dims),
                                                dtype="<f4", chunks=(max(1, 65536 // dims), dims))
        self.ids = (handle.create_dataset("ids", (0,), maxshape=(None,), dtype=text, chunks=(4096,))
                    if with_ids else None)
        self.rows = 0

    def append(self, ids: list[str], urls: list[str], vectors: np.ndarray) -> None:
        end = self.rows + len(urls)
        for dataset, values in ((self.urls, urls), (self.embeddings, vectors), (self.ids, ids)):
            if dataset is not None:
                dataset.resize(end, axis=0)
                dataset[self.rows:end] = values
        self.rows = end


class Hdf5Format:
    name = "hdf5"
    summary = "Open Images embedder HDF5: 'urls' + 'embeddings' (a file, or a folder of chunk files)"

    def export(self, coll: Collection, dest: Path, *, space: str | None = None, batch: int = 4096,
               advance: Callable[[int], None] | None = None, **_: Any) -> ExportReport:
        h5py = _h5py()

        dest = Path(dest)
        space = space or default_space(coll)
        report = ExportReport(self.name, files=[str(dest)])
        with h5py.File(dest, "w") as handle:
            writer: Hdf5Writer | None = None
            for items, vectors in export_batches(coll, space, batch, advance):
                urls = [image_url(item.image) for item in items]
                ids = [item.id for item in items]
                if writer is None:
                    writer = Hdf5Writer(handle, vectors.shape[1], with_ids=True)
                writer.append(ids, urls, vectors)
                report.items += len(ids)
            handle.attrs.update({"model": coll.model_name, "space": space})
        return report

    def import_(self, src: Path, collection_path: Path, *, model: str | None = None, space: str | None = None,
                batch: int = 4096, advance: Callable[[int], None] | None = None, **_: Any) -> tuple[Collection, ImportReport]:
        files = chunk_files(Path(src))
        attrs = _attributes(files[0])
        return import_batches(self.name, Path(src), collection_path, _read(files, batch),
                              model=model or attrs.get("model", DEFAULT_MODEL),
                              space=space or attrs.get("space", "image"), advance=advance)


def chunk_files(src: Path) -> list[Path]:
    """A file, or a folder's chunk files in chunk order (else all its .h5 files)."""
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise NotFoundError(f"{src} does not exist")
    chunks = sorted((p for p in src.glob("*.h5") if CHUNK_FILE.search(p.name)),
                    key=lambda p: int(CHUNK_FILE.search(p.name)[1]))
    files = chunks or sorted(src.glob("*.h5"))
    if not files:
        raise NotFoundError(f"{src} holds no .h5 files")
    return files


def _attributes(path: Path) -> dict[str, str]:
    with _open(path) as handle:
        return {k: _text(v) for k, v in handle.attrs.items() if k in ("model", "space")}


def _read(files: list[Path], batch: int) -> Iterator[Rows]:
    dims = None
    for path in files:
        with _open(path) as handle:
            urls, embeddings = _datasets(handle, path)
            dims = check_dims(embeddings, dims, str(path))
            ids = handle.get("ids", urls)
            for start in range(0, len(urls), batch):
                chunk_urls = [_text(u) for u in urls[start:start + batch]]
                chunk_ids = [_text(i) for i in ids[start:start + batch]]
                records = [SourceRecord(id=i, image=image_ref(u)) for i, u in zip(chunk_ids, chunk_urls, strict=True)]
                yield Rows(records, np.asarray(embeddings[start:start + batch], dtype=np.float32))


def _open(path: Path) -> h5py.File:
    """``path`` opened for reading; a file that is not HDF5 is a one-line ``SourceError``."""
    try:
        return _h5py().File(path, "r")
    except OSError as exc:  # h5py's words: "Unable to synchronously open file (file signature not found)"
        raise SourceError(f"{path}: not an HDF5 file, or unreadable ({exc})") from None


def _datasets(handle: h5py.File, path: Path) -> tuple[Any, Any]:
    missing = [name for name in ("urls", "embeddings") if name not in handle]
    if missing:
        raise SourceError(f"{path} has no {' and '.join(missing)} dataset; it has {', '.join(handle) or 'nothing'}")
    urls, embeddings = handle["urls"], handle["embeddings"]
    if len(urls) != len(embeddings):
        raise SourceError(f"{path}: {len(urls)} urls but {len(embeddings)} embeddings")
    return urls, embeddings


def merge_chunks(src: Path, dest: Path, batch: int = 65536) -> int:
    """Concatenate a folder's chunk files into one file, as the embedder's ``merge_HDF5_files``
    does; streams ``batch`` rows at a time. Returns the number of rows written."""
    h5py = _h5py()

    files = [p for p in chunk_files(Path(src)) if p.resolve() != Path(dest).resolve()]
    with h5py.File(dest, "w") as out:
        writer: Hdf5Writer | None = None
        for path in files:
            with _open(path) as handle:
                urls, embeddings = _datasets(handle, path)
                if writer is None:
                    writer = Hdf5Writer(out, embeddings.shape[1], with_ids="ids" in handle)
                for start in range(0, len(urls), batch):
                    stop = start + batch
                    ids = [_text(i) for i in handle["ids"][start:stop]] if writer.ids is not None else []
                    writer.append(ids, [_text(u) for u in urls[start:stop]], embeddings[start:stop])
        return writer.rows if writer else 0


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | np.bytes_) else str(value)


FORMATS.register("hdf5", Hdf5Format())
