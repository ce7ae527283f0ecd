"""What checking an index costs: the checksum pass before USearch opens a file, and the per-search
cost of following other processes (one stat of the manifest) and of the fail-over wrapper.

Compared in the same run: opening a space with USearch alone (memory-mapped view, first search)
vs. checksum (xxh3, sha256) + the same open; a search through USearch alone vs. through the
engine (manifest stat per call) vs. through the collection's checked engine.

    .venv/bin/python benchmarks/bench_index_checks.py --n 200000
    .venv/bin/python benchmarks/bench_index_checks.py --n 20000 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _report import markdown_table, percentiles, publish
from usearch.index import Index

from iconodex.index.files import file_checksum, read_manifest
from iconodex.index.guard import CheckedEngine
from iconodex.index.usearch_engine import UsearchEngine
from iconodex.store import ItemStore

SPACE = "vectors"


def build(directory: Path, n: int, dims: int, expansion_add: int,
          rng: np.random.Generator) -> tuple[Path, np.ndarray]:
    engine = UsearchEngine(directory, expansion_add=expansion_add)
    engine.ensure_space(SPACE, dims)
    for start in range(0, n, 50_000):
        count = min(50_000, n - start)
        engine.upsert(SPACE, np.arange(start, start + count), _unit(rng.standard_normal((count, dims))))
    engine.flush()
    engine.close()
    return directory / str(read_manifest(directory).spaces[SPACE].file), _queries(rng, dims)


def _queries(rng: np.random.Generator, dims: int) -> np.ndarray:
    return _unit(rng.standard_normal((2000, dims)))


def _unit(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def open_costs(path: Path, query: np.ndarray, repeat: int = 9) -> list[list[object]]:
    """Opening with USearch alone vs. each checksum alone, interleaved ``repeat`` times (medians)."""
    size_gb = path.stat().st_size / 1e9
    ways: list[tuple[str, Callable[[], object]]] = [
        ("USearch view + first search", lambda: Index.restore(str(path), view=True).search(query, 10)),
        ("xxh3_128 checksum (the default)", lambda: file_checksum(path, "xxh3_128")),
        ("sha256 checksum (without xxhash)", lambda: file_checksum(path, "sha256")),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in ways}
    for _ in range(repeat):
        for name, action in ways:
            start = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times[ways[0][0]])
    rows = []
    for name, _ in ways:
        seconds = statistics.median(times[name])
        rows.append([name, f"{seconds * 1000:.1f}", f"{seconds / base:.2f}",
                     "" if name == ways[0][0] else f"{size_gb / seconds:.1f}"])
    return rows


def search_costs(directory: Path, queries: np.ndarray, store: ItemStore) -> list[list[object]]:
    engine = UsearchEngine(directory, read_only=True)
    checked = CheckedEngine(UsearchEngine(directory, read_only=True), store)
    raw = Index.restore(str(directory / str(read_manifest(directory).spaces[SPACE].file)), view=True)
    raw.expansion_search = engine.expansion(SPACE)
    ways: list[tuple[str, Callable[[np.ndarray], object]]] = [
        ("USearch Index.search alone", lambda q: raw.search(q, 10)),
        ("UsearchEngine.search (+ manifest stat)", lambda q: engine.search(SPACE, q, 10)),
        ("CheckedEngine.search (+ fail-over wrapper)", lambda q: checked.search(SPACE, q, 10)),
    ]
    for _, search in ways:
        search(queries[0])  # open and warm
    times: dict[str, list[float]] = {name: [] for name, _ in ways}
    for query in queries:  # interleaved, so a busy machine weighs on every way alike
        for name, search in ways:
            start = time.perf_counter()
            search(query)
            times[name].append(time.perf_counter() - start)
    base = percentiles(times[ways[0][0]])[0]
    rows = []
    for name, _ in ways:
        p50, p95 = percentiles(times[name])
        rows.append([name, f"{p50 * 1000:.0f}", f"{p95 * 1000:.0f}", f"{p50 / base:.2f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--expansion-add", type=int, default=128,
                        help="build effort; lower builds faster with the same file size (what the checks cost)")
    parser.add_argument("--dir", type=Path, help="keep the built index here and reuse it on the next run")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or Path(tmp) / "index"
        start = time.perf_counter()
        if (directory / "spaces.json").exists():
            path, queries = directory / str(read_manifest(directory).spaces[SPACE].file), _queries(rng, args.dims)
        else:
            path, queries = build(directory, args.n, args.dims, args.expansion_add, rng)
        built = time.perf_counter() - start
        opening = open_costs(path, queries[0])
        searching = search_costs(directory, queries, ItemStore(Path(tmp) / "empty.db"))
        size_mb = path.stat().st_size / 1e6
        count = len(Index.restore(str(path), view=True))
    body = (f"One space of {count:,} random unit vectors × {args.dims} dims (f32, HNSW, expansion_add "
            f"{args.expansion_add}, {f'built in {built:.0f} s' if built > 1 else 'built by an earlier run'}); "
            f"the file is {size_mb:,.0f} MB, in the page cache (a warm open; a cold one adds the disk read, "
            f"which the memory-mapped view would pay on first searches anyway).\n\n"
            "**Opening a space**, and what checking it first adds (medians of 9, interleaved):\n\n"
            + markdown_table(["step", "ms", "× the open", "GB/s"], opening)
            + "\n\n**One search** (k=10, 2000 queries one at a time, the three ways interleaved; µs):\n\n"
            + markdown_table(["through", "p50 µs", "p95 µs", "× USearch alone"], searching)
            + "\n\nThe checksum is paid once per file per process (a server: in the background at start-up, and "
            "when another process saves a new file); following other processes costs one `stat` per call.")
    publish("index-checks", "Index checks: checksum at open, freshness per search (bench_index_checks.py)",
            body, write=not args.no_write)


if __name__ == "__main__":
    main()
