"""How many threads inference may use in this process: the ``threads`` setting (0: every core).

A collection sets it from its settings before it loads a model, so that ``ICONODEX_THREADS=2`` (or
``threads = 2`` in a config file) keeps an ingest or a server to its share of a shared machine.
"""

from __future__ import annotations

import os

_limit = 0


def set_inference_threads(count: int) -> None:
    global _limit
    _limit = max(0, int(count))


def inference_threads() -> int | None:
    """The cap, or None when every core may be used (the runtimes' own default)."""
    return _limit or None


def batch_threads() -> int:
    """Threads for a batch: the cap, or every core."""
    return _limit or os.cpu_count() or 1
