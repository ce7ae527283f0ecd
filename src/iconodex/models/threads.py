"""How many threads inference may use in this process: the ``threads`` setting (0: every core; for an
onnxruntime session, one per physical core, as onnxruntime itself would choose).

A collection sets it from its settings before it loads a model, so that ``ICONODEX_THREADS=2`` (or
``threads = 2`` in a config file) keeps an ingest or a server to its share of a shared machine.
"""

from __future__ import annotations

import os
from pathlib import Path

_limit = 0


def set_inference_threads(count: int) -> None:
    global _limit
    _limit = max(0, int(count))


def batch_threads() -> int:
    """Threads for a batch: the cap, or every core."""
    return _limit or os.cpu_count() or 1


def intra_op_threads(requested: int | None = None) -> int:
    """Threads for an onnxruntime session: ``requested``, else the cap, else one per physical core.

    That last is onnxruntime's own default, given explicitly: left to choose, onnxruntime pins each
    of its threads to one core, so during ingest an inference thread preempted by a decode thread
    waits for its own core while another frees up, and the thread that needs its share spins
    meanwhile (docs/benchmarks.md, "Ingest throughput")."""
    return requested or _limit or physical_cores()


def usable_cores() -> int:
    """The logical CPUs this process may run on (its affinity: a process pinned to one core gets 1)."""
    allowed = _allowed_cpus()
    return len(allowed) if allowed is not None else os.cpu_count() or 1


def physical_cores() -> int:
    """Cores this process may run on, counting a core's hyper-threads once (Linux's CPU topology;
    elsewhere, or where it cannot be read, every logical CPU)."""
    allowed = _allowed_cpus()
    if allowed is None:
        return os.cpu_count() or 1
    cores = set()
    for cpu in allowed:
        try:
            cores.add(Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read_text().strip())
        except OSError:
            return max(1, len(allowed))
    return max(1, len(cores))


def _allowed_cpus() -> set[int] | None:
    """The CPUs of this process's affinity, or None where the platform has no affinity API."""
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
