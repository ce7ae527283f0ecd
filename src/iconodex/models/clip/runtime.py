"""ONNX Runtime plumbing shared by every CLIP-family tower: providers, sessions, adaptive batches.

Exports differ in names (``pixel_values``/``images``/``image``, ``input_ids``/``text``), in dtypes
(int32 or int64 ids, fp16 or fp32 pixels) and in whether the batch axis is dynamic (Immich's
exports are fixed at batch 1). A tower reads all of that from the graph instead of hard-coding it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...errors import ConfigError, ModelNotAvailableError
from ..threads import intra_op_threads

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
EMBEDDING_OUTPUTS = ("image_embeds", "text_embeds", "embeddings", "embedding", "pooler_output")
_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


def _ort():
    import onnxruntime

    return onnxruntime


def choose_providers(device: str = "auto") -> list[str]:
    """Execution providers for ``device`` (auto, cpu, cuda): CUDA first when onnxruntime-gpu has it."""
    available = _ort().get_available_providers()
    device = device.lower()
    if device == "cpu":
        return [CPU]
    if device in ("cuda", "gpu"):
        if CUDA not in available:
            raise ConfigError(
                f"device {device!r} needs onnxruntime-gpu and a CUDA GPU; this onnxruntime offers {', '.join(available)}"
            )
        return [CUDA, CPU]
    if device != "auto":
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda")
    return [CUDA, CPU] if CUDA in available else [CPU]


class OnnxTower:
    """One encoder graph (image or text) and the facts about it the caller needs."""

    def __init__(self, path: Path, providers: list[str]) -> None:
        ort = _ort()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # exports carry harmless unused-initialiser warnings; errors still show
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # leave cores to the decoders
        options.intra_op_num_threads = intra_op_threads()  # explicit, so that onnxruntime pins none (threads.py)
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as err:  # a truncated or foreign file: ORT raises its own exception types
            reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
            raise ModelNotAvailableError(
                f"{path} is not a loadable ONNX model ({reason}); delete it and pull the model again"
            ) from None
        self.path = path
        self.inputs = self.session.get_inputs()
        self.output = self._embedding_output()
        shape = self.inputs[0].shape
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        self.fixed_length = shape[1] if len(shape) > 1 and isinstance(shape[1], int) else None

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    @property
    def output_dim(self) -> int | None:
        dim = self.output.shape[-1]
        return dim if isinstance(dim, int) else None

    def _embedding_output(self):
        outputs = self.session.get_outputs()
        by_name = {out.name: out for out in outputs}
        for name in EMBEDDING_OUTPUTS:
            if name in by_name:
                return by_name[name]
        pooled = [out for out in outputs if len(out.shape) == 2]
        if not pooled:
            raise ModelNotAvailableError(f"{self.path} has no pooled (batch, dim) output; it is not an embedding export")
        return pooled[-1]  # UForm returns (features, embeddings): the embedding comes last

    def run_image(self, pixels: np.ndarray) -> np.ndarray:
        """(n, 3, H, W) float pixels → (n, dim) float32 embeddings."""
        first = self.inputs[0]
        return self._run(lambda rows: {first.name: pixels[rows].astype(_DTYPES[first.type])}, len(pixels))

    def run_text(self, tokens: dict[str, np.ndarray]) -> np.ndarray:
        """``input_ids``/``attention_mask`` → (n, dim) float32, fed under whatever names the graph uses."""
        ids, mask = tokens["input_ids"], tokens["attention_mask"]

        def feeds(rows: slice) -> dict[str, np.ndarray]:
            fed = {}
            for node in self.inputs:
                source = mask if "mask" in node.name else ids
                if "position" in node.name:
                    source = np.broadcast_to(np.arange(ids.shape[1]), ids.shape)
                fed[node.name] = np.ascontiguousarray(source[rows], dtype=_DTYPES.get(node.type, np.int64))
            return fed

        return self._run(feeds, len(ids))

    def _run(self, feeds: Callable[[slice], dict[str, np.ndarray]], count: int) -> np.ndarray:
        step = self.fixed_batch or count
        parts = [
            self.session.run([self.output.name], feeds(slice(start, start + step)))[0]
            for start in range(0, count, max(step, 1))
        ]
        return np.concatenate(parts).astype(np.float32, copy=False)


class AdaptiveBatcher:
    """Runs a caller's batch in chunks whose size adapts to the machine.

    The chunk doubles while throughput (items/s) still improves by 5%, and halves when the
    runtime cannot allocate memory; then it stays put. Small chunks keep peak memory low on
    CPUs, large ones keep a GPU busy; neither needs to be configured.
    """

    def __init__(self, start: int = 8, limit: int = 256) -> None:
        self.size = start
        self.limit = limit
        self._best_rate = 0.0
        self._settled = False

    def run(self, count: int, work: Callable[[slice], np.ndarray]) -> np.ndarray:
        parts: list[np.ndarray] = []
        start = 0
        while start < count:
            stop = min(count, start + self.size)
            began = time.perf_counter()
            try:
                parts.append(work(slice(start, stop)))
            except Exception as err:
                if not _out_of_memory(err) or self.size == 1:
                    raise
                self.size, self._settled = max(1, self.size // 2), True
                log.warning("out of memory at batch size %d; continuing with %d", stop - start, self.size)
                continue
            self._observe(stop - start, time.perf_counter() - began)
            start = stop
        return np.concatenate(parts) if parts else np.empty((0, 0), dtype=np.float32)

    def _observe(self, done: int, seconds: float) -> None:
        if self._settled or done < self.size:
            return
        rate = done / max(seconds, 1e-9)
        if rate > self._best_rate * 1.05 and self.size * 2 <= self.limit:
            self._best_rate = rate
            self.size *= 2
        else:
            self._settled = True


def _out_of_memory(err: Exception) -> bool:
    if isinstance(err, MemoryError):
        return True
    text = str(err).lower()
    return "out of memory" in text or "failed to allocate" in text
