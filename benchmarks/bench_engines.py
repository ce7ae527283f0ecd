"""The embedded engine vs a Milvus server on the same vectors: memory per item and query latency.

Both are driven through iconodex's own engines (``UsearchEngine``, ``MilvusEngine``), so the Milvus
figures include what a search request pays: the gRPC round trip on loopback and pymilvus. A Milvus
standalone server (PyPI's ``milvus`` package) is started in a temporary folder unless ``--uri`` names
one. Memory: usearch's saved index (memory-mapped when searched); Milvus's growth of the server
process's resident memory from before the first insert to after the sealed, indexed segments are
loaded (an upper bound: it also holds what the Go runtime has not given back).

    .venv/bin/python benchmarks/bench_engines.py                  # 100,000 × 256, a few minutes
    .venv/bin/python benchmarks/bench_engines.py --n 20000 --no-write
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _report import markdown_table, percentiles, write_section
from bench_search import exact_top, make_data, recall, time_queries

from iconodex.index.milvus_engine import MilvusEngine
from iconodex.index.usearch_engine import UsearchEngine

SPACE = "vectors"
BATCH = 10_000
EF = 128  # search expansion in both engines (MilvusEngine searches at ef 128)


@dataclass
class Result:
    engine: str
    build_s: float
    bytes_per_item: float | None
    recall: float
    p50: float
    p95: float
    filtered_p50: float
    filtered_recall: float


def fill(engine, data: np.ndarray) -> float:
    engine.ensure_space(SPACE, data.shape[1])
    start = time.perf_counter()
    for first in range(0, len(data), BATCH):
        engine.upsert(SPACE, np.arange(first, first + len(data[first:first + BATCH])), data[first:first + BATCH])
        if first and first % (10 * BATCH) == 0:
            log(f"{type(engine).__name__}: {first:,} rows in {time.perf_counter() - start:.0f} s")
    engine.flush()
    return time.perf_counter() - start


def log(message: str) -> None:
    """Progress on stderr: a 1M run takes tens of minutes."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(name: str, engine, build_s: float, per_item: float | None, queries: np.ndarray, truth: np.ndarray,
            allowed: np.ndarray, allowed_truth: np.ndarray, k: int) -> Result:
    found, seconds = time_queries(lambda q: engine.search(SPACE, q, k)[0], queries)
    filtered, filtered_seconds = time_queries(lambda q: engine.search(SPACE, q, k, allowed)[0], queries)
    return Result(name, build_s, per_item, recall(found, truth), *percentiles(seconds),
                  percentiles(filtered_seconds)[0], recall(filtered, allowed[allowed_truth]))


def run_usearch(data: np.ndarray, folder: Path, *args) -> Result:
    writer = UsearchEngine(folder / "usearch", exact_below=0, expansion_search=EF)
    build_s = fill(writer, data)
    per_item = writer.memory_bytes() / len(data)
    writer.close()
    reader = UsearchEngine(folder / "usearch", exact_below=0, expansion_search=EF, read_only=True)  # as a search server opens it
    return measure("usearch (embedded)", reader, build_s, per_item, *args)


def run_milvus(data: np.ndarray, folder: Path, uri: str | None, *args) -> Result:
    server = None
    if uri is None:
        from milvus import MilvusServer, MilvusServerConfig

        server = MilvusServer(MilvusServerConfig(data_dir=str(folder / "milvus-server")))
        server.start()
        uri = f"http://127.0.0.1:{server.listen_port}"
    rss = (lambda: _rss(server.server_proc.pid)) if server else (lambda: None)
    try:
        engine = MilvusEngine(folder, uri=uri, collection_name="bench", timeout=600)
        before = rss()
        start = time.perf_counter()
        fill(engine, data)
        _seal_and_index(engine, len(data))
        build_s = time.perf_counter() - start
        after = rss()
        per_item = (after - before) / len(data) if before is not None and after is not None else None
        result = measure("Milvus 2.3.5 standalone (loopback)", engine, build_s, per_item, *args)
        engine.client.drop_collection(engine.prefix + SPACE)
        engine.close()
        return result
    finally:
        if server is not None:
            server.stop()


def _seal_and_index(engine: MilvusEngine, rows: int) -> None:
    """Seal the growing segments and wait until HNSW covers every row, then reload, so searches run
    on the index rather than on brute-force growing segments."""
    name = engine.prefix + SPACE
    engine.client.flush(name, timeout=600)
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        described = engine.client.describe_index(name, "vector")
        log(f"Milvus: {described.get('indexed_rows', 0):,} of {rows:,} rows indexed")
        if described.get("indexed_rows", 0) >= rows and not described.get("pending_index_rows", 0):
            break
        time.sleep(10)
    engine.client.release_collection(name)
    engine.client.load_collection(name, timeout=1800)


def _rss(pid: int) -> int | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def run(args: argparse.Namespace) -> str:
    data = make_data("clustered", args.n + args.queries, args.dims, seed=1)
    data, queries = data[:args.n], data[args.n:]
    truth = exact_top(data, queries, args.k)
    allowed = np.sort(np.random.default_rng(3).choice(args.n, args.allowed, replace=False))
    allowed_truth = exact_top(data[allowed], queries, args.k)  # positions in ``allowed``
    common = (queries, truth, allowed, allowed_truth, args.k)
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_usearch(data, Path(tmp), *common), run_milvus(data, Path(tmp), args.uri, *common)]
    base = results[0]
    rows = [[r.engine, f"{r.build_s:.0f}", "n/a" if r.bytes_per_item is None else f"{r.bytes_per_item:.0f}",
             f"{r.recall:.3f}", f"{r.p50:.2f}", f"{r.p95:.2f}", f"{r.p50 / base.p50:.1f}×",
             f"{r.filtered_p50:.2f}", f"{r.filtered_recall:.3f}"] for r in results]
    header = ["engine", "build s", "bytes/item", "recall@10", "p50 ms", "p95 ms", "p50 vs usearch",
              f"filtered p50 ms ({args.allowed:,} keys)", "filtered recall@10"]
    table = markdown_table(header, rows)
    print(table)
    return (f"{args.n:,} clustered unit vectors × {args.dims}, {args.queries} held-out queries, one at a time "
            f"(as a search request makes them), k={args.k}; HNSW M=16, efConstruction 128, ef 128 in both. "
            f"Filtered: an allowed set of {args.allowed:,} random keys (a `--where`), scored exactly by usearch, "
            f"pushed down to Milvus as an `id in [...]` expression. usearch bytes/item is the saved index; "
            f"Milvus's is the server's resident-memory growth (sealed, indexed, loaded segments).\n\n{table}\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--allowed", type=int, default=1000)
    parser.add_argument("--uri", help="an existing Milvus server (default: start one from the milvus package)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    text = run(arguments)
    if not arguments.no_write:
        write_section("engines", "Engines: usearch vs Milvus (bench_engines.py)", text)
