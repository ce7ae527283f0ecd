"""Exporters and importers for the file formats the seed projects publish.

Each format is one module registering a :class:`~iconodex.formats.base.Format` in ``FORMATS``;
built-ins are imported on first use, so ``iconodex --help`` never pays for h5py or pyarrow.

- ``uform-hf``: the UForm seed's Hugging Face dataset (fbin embeddings, labels.npy, a fused
  USearch index, a parquet metadata table, a dataset card);
- ``hdf5``: the Open Images embedder's ``urls`` + ``embeddings`` file (or a folder of chunks);
- ``onit-jsonl``: ONiT's one-JSON-object-per-image vector file;
- ``sari-npy``: SARI's ``features.npy`` + ``imageIds.csv`` deployment.
"""

from __future__ import annotations

from ..registry import Registry
from .base import ExportReport, Format, ImportReport

FORMATS: Registry[Format] = Registry("format")
FORMATS.register_lazy("uform-hf", "iconodex.formats.uform_hf")
FORMATS.register_lazy("hdf5", "iconodex.formats.hdf5")
FORMATS.register_lazy("onit-jsonl", "iconodex.formats.onit_jsonl")
FORMATS.register_lazy("sari-npy", "iconodex.formats.sari_npy")

__all__ = ["FORMATS", "ExportReport", "Format", "ImportReport"]
