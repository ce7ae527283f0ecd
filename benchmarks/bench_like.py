"""More-like-this end to end against the least work any implementation must do.

``Collection.search(like=id)`` on a read-only collection (as the server opens it) against a floor:
a raw FAISS ``IndexHNSWFlat`` search (same M, one thread, the smallest efSearch reaching the recall@10
the collection's own search reaches; also the smallest reaching 0.95) for the item's vector plus
reading the 10 result rows from the same SQLite store. The raw
USearch call on the engine's own index (plus the same rows) splits the gap into library and
iconodex. The three run interleaved, query by query, on a warm cache (one untimed pass first).

The collection (clustered vectors, truncated to ``--dims``) is built once under ``--cache``. With
``--engine faiss`` it is moved to that engine first (``reindex``: from the store, nothing re-embedded)
and the raw USearch way is left out.

    python benchmarks/bench_like.py --n 200000 --cache /tmp/bench-like
    python benchmarks/bench_like.py --n 200000 --cache /tmp/bench-like-faiss --engine faiss
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from _report import markdown_table, percentiles, publish
from _synthetic import build_synthetic, clustered
from bench_search import exact_top, recall

from iconodex import Collection
from iconodex.records import ImageRef, SourceRecord

SPACE = "visual"  # the offline model's picture space, the one more-like-this searches
K = 10


def record(number: int) -> SourceRecord:
    return SourceRecord(id=f"item-{number}", image=ImageRef("path", f"/synthetic/{number}.jpg"),
                        title=f"Picture {number}", metadata={"creator": [f"Artist {number % 997}"]}, version="1")


def stored_vectors(coll: Collection) -> tuple[np.ndarray, np.ndarray]:
    keys, vectors = zip(*coll.store.iter_vectors(SPACE), strict=True)
    return np.concatenate(keys).astype(np.int64), np.vstack(vectors).astype(np.float32)


def faiss_floor(vectors: np.ndarray, connectivity: int):
    """The FAISS HNSWFlat index of the floor (rows, not keys), one thread per query."""
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], connectivity, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 128
    index.add(vectors)
    faiss.omp_set_num_threads(1)
    return index


def smallest_ef(index, queries: np.ndarray, truth: np.ndarray, target: float) -> tuple[int, float]:
    """The smallest efSearch whose recall@10 reaches ``target``, and that recall."""
    for ef in (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512):
        index.hnsw.efSearch = ef
        found = index.search(queries, K + 1)[1]
        reached = recall([row[1:] for row in found], truth)
        if reached >= target:
            return ef, reached
    return ef, reached


def item_ids(coll: Collection, keys: np.ndarray, rows: np.ndarray) -> dict[int, str]:
    items = coll.store.get_many(keys[rows].tolist())
    return {int(row): items[int(keys[row])].id for row in rows}


def measure(coll: Collection, keys: np.ndarray, vectors: np.ndarray, rows: np.ndarray, index,
            floors: dict[str, int], raw=None) -> dict:
    """Seconds per call of each way, interleaved (the order rotates with each query)."""
    import faiss

    ids = item_ids(coll, keys, rows)

    def iconodex(row: int) -> None:
        coll.search(like=ids[row], limit=K)

    def floor_at(ef: int):
        params = faiss.SearchParametersHNSW(efSearch=ef)

        def floor(row: int) -> None:
            found = index.search(vectors[row][None, :], K + 1, params=params)[1][0]
            coll.store.get_many(keys[found[1:]].tolist())
        return floor

    def usearch(row: int) -> None:
        found = raw.search(vectors[row], K + 1, threads=1).keys
        coll.store.get_many(found[1:].astype(np.int64).tolist())

    ways = {"Collection.search(like=…)": iconodex, **{name: floor_at(ef) for name, ef in floors.items()},
            "raw usearch search (engine's index) + 10 rows": usearch}
    if raw is None:
        del ways["raw usearch search (engine's index) + 10 rows"]
    for row in rows:  # warm: page cache, SQLite cache, lazy opens
        for way in ways.values():
            way(row)
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for number, row in enumerate(rows):
        for turn in range(len(names)):
            name = names[(number + turn) % len(names)]
            start = time.perf_counter()
            ways[name](row)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--connectivity", type=int, default=16, help="FAISS's M: the engine's default")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("BENCH_CACHE", "/tmp/bench-like")))
    parser.add_argument("--engine", default="usearch", help="the collection's engine (reindexed into it)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    path = args.cache / f"like-{args.n}x{args.dims}"
    if not path.exists():
        build_synthetic(path, args.n, record, spaces=(SPACE,), chunk=20_000, dims=args.dims,
                        make_vectors=clustered(max(args.n // 1000, 1)))
    with Collection.open(path) as coll:
        if coll.stats()["engine"] != args.engine:
            coll.reindex(args.engine, {})
    with Collection.open(path, read_only=True) as coll:
        keys, vectors = stored_vectors(coll)
        rows = np.random.default_rng(3).choice(len(keys), args.queries, replace=False)
        truth = exact_top(vectors, vectors[rows], K + 1)[:, 1:]
        ids = item_ids(coll, keys, rows)
        found = [np.asarray([result.key for result in coll.search(like=ids[row], limit=K)]) for row in rows]
        key_rows = {int(key): i for i, key in enumerate(keys)}
        ours = recall([np.asarray([key_rows[int(key)] for key in f]) for f in found], truth)
        index = faiss_floor(vectors, args.connectivity)
        ef_same, recall_same = smallest_ef(index, vectors[rows], truth, ours)
        ef_95, recall_95 = smallest_ef(index, vectors[rows], truth, 0.95)
        same = f"floor at the same recall: faiss ef {ef_same} (recall {recall_same:.3f}) + 10 SQLite rows"
        floors = {same: ef_same, f"floor at recall ≥ 0.95: faiss ef {ef_95} ({recall_95:.3f}) + 10 SQLite rows": ef_95}
        raw = coll.engine.inner._index(SPACE) if args.engine == "usearch" else None
        seconds = measure(coll, keys, vectors, rows, index, floors, raw)
    base = percentiles(seconds[same])[0]
    table = markdown_table(["call", "p50 ms", "p95 ms", "p50 vs floor at the same recall"],
                           [[name, *(f"{v:.3f}" for v in percentiles(s)), f"{percentiles(s)[0] / base:.2f}×"]
                            for name, s in seconds.items()])
    body = (f"{args.n:,} items × {args.dims} (clustered), {args.queries} more-like-this queries by item id, "
            f"k={K}, read-only collection on the {args.engine} engine (its default search expansion), warm "
            f"cache, interleaved. The collection's recall@10 is {ours:.3f}; the floor is FAISS `IndexHNSWFlat` "
            f"M={args.connectivity} at the smallest efSearch reaching that recall (the issue's \"same recall\"), "
            f"and, for reference, at the smallest reaching 0.95.\n\n{table}\n")
    section = "search-like" if args.engine == "usearch" else f"search-like-{args.engine}"
    publish(section, f"More like this end to end (bench_like.py{'' if args.engine == 'usearch' else ', ' + args.engine})",
            body, write=not args.no_write)


if __name__ == "__main__":
    main()
