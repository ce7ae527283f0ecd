"""Reading a search's candidate vectors back from a saved index: USearch's per-key ``Index.get`` against
the gather from the memory-mapped file's rows (``index/usearch_rows.py``), at the sizes a search asks.

A `like` search reads about 80 candidates' vectors per space, four times per request (docs/serve.md);
before, only reads of 256 keys or more used the gather. The two reads alternate, each going first in
turn, on one read-only engine per path, so the machine's load hits them alike.

    .venv/bin/python benchmarks/bench_vector_reads.py                 # 50,000 × 384, about a minute
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import markdown_table, percentiles, write_section
from bench_search import make_data

from iconodex.index import usearch_engine
from iconodex.index.usearch_engine import UsearchEngine


def timed(engine: UsearchEngine, keys: np.ndarray) -> float:
    start = time.perf_counter()
    engine.get("vectors", keys)
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> str:
    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        writer = UsearchEngine(Path(tmp), exact_below=0)
        writer.ensure_space("vectors", args.dims)
        writer.upsert("vectors", np.arange(args.n), make_data("clustered", args.n, args.dims, seed=2))
        writer.flush()
        writer.close()
        per_key = UsearchEngine(Path(tmp), read_only=True)
        gather = UsearchEngine(Path(tmp), read_only=True)
        gather.get("vectors", np.arange(usearch_engine.FILE_ROWS_FROM))  # maps the file's rows once
        rows = []
        for size in args.sizes:
            seconds: dict[str, list[float]] = {"per key": [], "gather": []}
            for round_ in range(args.rounds):
                keys = rng.choice(args.n, size, replace=False)
                order = [("per key", per_key), ("gather", gather)]
                for name, engine in order if round_ % 2 else order[::-1]:
                    seconds[name].append(timed(engine, keys))
            base = percentiles(seconds["per key"])[0]
            for name, values in seconds.items():
                p50, p95 = percentiles(values)
                rows.append([size, name, f"{p50:.3f}", f"{p95:.3f}", f"{base / p50:.1f}×"])
    table = markdown_table(["keys per read", "read", "p50 ms", "p95 ms", "speed-up vs per key"], rows)
    print(table)
    return (f"{args.n:,} clustered unit vectors × {args.dims} (f32) in a saved USearch index opened read-only; "
            f"{args.rounds} reads of random keys per size, the two paths alternating. `per key`: "
            f"`UsearchEngine.get` through `Index.get` (what reads under {usearch_engine.FILE_ROWS_FROM} keys "
            f"did before); `gather`: the same call once a larger read has mapped the file's rows.\n\n{table}\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 80, 200],
                        help="each below FILE_ROWS_FROM, so the per-key engine never maps the file")
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    text = run(arguments)
    if not arguments.no_write:
        write_section("vector-reads", "Reading candidate vectors back (bench_vector_reads.py)", text)
