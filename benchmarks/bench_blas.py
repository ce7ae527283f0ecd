"""A picture query with NumPy's BLAS on its own pool of threads (NumPy's default: one per core)
against one thread, as ``iconodex serve`` runs it: CPU and wall time per query, the two settings
alternating query by query in one process, on the demo collection (built in a temporary folder).

    .venv/bin/python benchmarks/bench_blas.py --rounds 80
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _report import markdown_table, percentiles, publish
from PIL import Image
from threadpoolctl import threadpool_info, threadpool_limits

from iconodex import demo

BLOCK = 8  # queries in a row under one setting; the settings alternate block by block
SETTLE_S = 0.1  # after a block: OpenBLAS threads busy-wait about this long after a product before sleeping


def blas_threads() -> int:
    return max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=0)


def queries(coll: object, pictures: list[Image.Image], threads: int, wall: list[float]) -> float:
    """CPU seconds of ``BLOCK`` picture queries with BLAS on ``threads``, including what the pool
    spends after the last one (its threads spin for a while after each product), each query's wall
    time appended to ``wall``."""
    with threadpool_limits(limits=threads, user_api="blas"):
        start_cpu = time.process_time()
        for picture in pictures[:BLOCK]:
            start = time.perf_counter()
            coll.search(image=picture, limit=10)
            wall.append(time.perf_counter() - start)
        time.sleep(SETTLE_S)
        return time.process_time() - start_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=80, help=f"picture queries per setting, in blocks of {BLOCK}")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        coll = demo.build(Path(workdir), quiet=True)
        pictures = [Image.open(path).convert("RGB") for path in sorted((Path(workdir) / "pictures").glob("*.png"))]
        coll.search(image=pictures[0], limit=10)  # the model loaded and run once
        pool = blas_threads()
        settings = {f"BLAS pool ({pool} threads, NumPy's default)": pool, "BLAS on one thread (iconodex serve)": 1}
        wall: dict[str, list[float]] = {name: [] for name in settings}
        cpu: dict[str, float] = dict.fromkeys(settings, 0.0)
        for block in range(args.rounds // BLOCK):
            for name in list(settings)[block % 2:] + list(settings)[:block % 2]:  # alternate which goes first
                cpu[name] += queries(coll, pictures, settings[name], wall[name])
        coll.close()
        coll.close()
    base = cpu[next(iter(settings))]
    rows = [[name, f"{percentiles(wall[name])[0]:.1f}", f"{1000 * cpu[name] / len(wall[name]):.1f}",
             f"{cpu[name] / base:.2f}×"] for name in settings]
    table = markdown_table(["picture query", "p50 wall ms", "CPU ms per query (all threads)", "CPU vs pool"], rows)
    per_setting = len(next(iter(wall.values())))
    body = (f"`Collection.search(image=…)` on the demo collection (offline model), {per_setting} queries per setting over "
            f"its pictures, in blocks of {BLOCK} under one setting, the settings alternating block by block; CPU "
            f"is the process's (every thread's), from a block's start to {SETTLE_S:g} s after its last query, "
            f"so a pool's spinning after a query counts where it belongs.\n\n{table}\n")
    publish("blas-picture-query", "A picture query, NumPy's BLAS pool or one thread (bench_blas.py)", body,
            write=not args.no_write)


if __name__ == "__main__":
    main()
