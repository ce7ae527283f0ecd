"""One query at a time through USearch: its default (``threads=0``, a pool over every core) against
the one thread iconodex's engine now asks for, in the same run, query by query in turn. A single
query walks the graph on one thread either way, so the pool only adds its start-up.

    .venv/bin/python benchmarks/bench_threads.py --n 50000
"""

from __future__ import annotations

import time

import numpy as np
from _report import markdown_table, percentiles, size_and_rounds, write_section
from bench_search import make_data
from usearch.index import Index

DIMS = 256


def main() -> None:
    args = size_and_rounds(__doc__, rounds=500)
    data = make_data("clustered", args.n, DIMS, seed=0)
    index = Index(ndim=DIMS, metric="cos", dtype="f32", connectivity=16, expansion_add=128, expansion_search=128)
    index.add(np.arange(args.n, dtype=np.uint64), data)
    queries = make_data("clustered", args.rounds, DIMS, seed=1)
    settings = {"threads=0 (USearch default, before)": 0, "threads=1 (iconodex, after)": 1}
    seconds: dict[str, list[float]] = {name: [] for name in settings}
    found: dict[str, list[list[int]]] = {name: [] for name in settings}
    for i, query in enumerate(queries):
        for name in list(settings)[i % 2:] + list(settings)[:i % 2]:  # alternate which goes first
            start = time.perf_counter()
            matches = index.search(query, 10, threads=settings[name])
            seconds[name].append(time.perf_counter() - start)
            found[name].append(matches.keys.tolist())
    base = percentiles(seconds[next(iter(settings))])[0]
    rows = []
    for name in settings:
        p50, p95 = percentiles(seconds[name])
        same = np.mean([a == b for a, b in zip(found[name], found[next(iter(settings))], strict=True)])
        rows.append([name, f"{p50:.3f}", f"{p95:.3f}", f"{base / p50:.1f}×", f"{same:.3f}"])
    table = markdown_table(["search call", "p50 ms", "p95 ms", "speed-up", "same top-10 as default"], rows)
    print(table)
    body = (f"{args.n:,} clustered unit vectors × {DIMS} (M=16, ef 128), {args.rounds} single queries, k=10, "
            f"the two calls alternating which goes first.\n\n{table}\n")
    if not args.no_write:
        write_section("search-threads", "One query, one thread (bench_threads.py)", body)


if __name__ == "__main__":
    main()
