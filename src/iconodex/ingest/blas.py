"""NumPy's BLAS on one thread while ingest embeds.

Ingest already keeps every core busy with its own threads: the fetch threads decode and the model's
runtime has its pool. NumPy's BLAS (OpenBLAS) starts a pool of its own for the model's matrix work
(the offline model's neighbour search and projections), whose threads spin for a while after each
call, on the cores the decoders need: on 2 cores 23.0 against 20.3 CPU ms per picture
(docs/benchmarks.md, "Ingest throughput"). The BLAS thread count is global to the process, so
overlapping scopes (two ingest streams) share one limit, lifted when the last one ends. OpenBLAS takes
a new count only from the main thread (0.3.31 ignores other threads' requests), so an ingest run in
another thread (a server's, a Dask worker's) leaves the pool as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from threadpoolctl import ThreadpoolController

_lock = threading.Lock()
_open_scopes = 0
_limit: Any = None  # threadpoolctl's limiter, restoring the counts found when the first scope opened


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS calls made inside run in the calling thread; the previous thread count comes back
    when the last overlapping scope ends."""
    global _open_scopes, _limit
    with _lock:
        if _open_scopes == 0:
            _limit = ThreadpoolController().limit(limits=1, user_api="blas")
        _open_scopes += 1
    try:
        yield
    finally:
        with _lock:
            _open_scopes -= 1
            if _open_scopes == 0:
                _limit.restore_original_limits()
                _limit = None
