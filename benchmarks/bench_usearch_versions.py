"""USearch releases side by side: the same graph walk, timed in each, against FAISS in the same process.

Each version is installed once from PyPI into ``--cache/usearch-VERSION`` (``pip install --target``) and
run in a child interpreter of its own, with that folder first on its path, so several releases compare
on one machine without touching the environment. Every child builds the same indexes (f32, M=16,
efConstruction 128, two threads), one per metric (``--metrics``: the cosine, and the inner product
iconodex's engine uses on unit vectors), over the same clustered unit vectors and times single queries
(one thread, interleaved with a FAISS ``IndexHNSWFlat`` of the same M, ef and vectors, so each child
carries its own reference and a busy moment hits both).

USearch 2.25 moved its distance kernels from SimSIMD to NumKong; this is the measurement behind the
version range in pyproject.toml and of the engine's metric.

    python benchmarks/bench_usearch_versions.py --versions 2.23.0,2.26.0 --n 100000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

K = 10
DIMS = 256


def child(n: int, queries: int, ef: int, repeats: int, metrics: list[str]) -> dict:
    """Build, time and check recall inside the interpreter of one version (runs as ``--child``): one
    index per metric, each timed query by query in turn with FAISS."""
    import faiss
    import usearch
    from _synthetic import clustered
    from usearch.index import Index

    vectors = clustered(max(n // 1000, 1))(np.random.default_rng(0), n, DIMS)
    rows = np.random.default_rng(1).choice(n, queries, replace=False)
    truth = np.argsort(-(vectors[rows] @ vectors.T), axis=1)[:, 1:K + 1]
    built, found, p50, recall = {}, {}, {}, {}
    floor = faiss.IndexHNSWFlat(DIMS, 16, faiss.METRIC_INNER_PRODUCT)
    floor.hnsw.efConstruction = 128
    faiss.omp_set_num_threads(2)
    started = time.perf_counter()
    floor.add(vectors)
    built["faiss"] = time.perf_counter() - started
    faiss.omp_set_num_threads(1)
    params = faiss.SearchParametersHNSW(efSearch=ef)
    found["faiss"] = lambda q: floor.search(q[None, :], K + 1, params=params)[1][0]
    for metric in metrics:
        # One USearch index at a time beside FAISS: with more indexes in turn, each query finds the
        # others' nodes evicted from the caches and every walk waits on memory alike.
        index = Index(ndim=DIMS, metric=metric, dtype="f32", connectivity=16, expansion_add=128, expansion_search=ef)
        started = time.perf_counter()
        index.add(np.arange(n), vectors, threads=2)
        built[metric] = time.perf_counter() - started
        found[metric] = lambda q, index=index: index.search(q, K + 1, threads=1).keys
        seconds = interleaved({metric: found[metric], "faiss": found["faiss"]}, vectors[rows], repeats)
        p50[metric], p50[f"faiss beside {metric}"] = (float(np.median(s)) for s in seconds.values())
        recall[metric] = _recall(found.pop(metric), vectors[rows], truth)
        acceleration = index.hardware_acceleration
    recall["faiss"] = _recall(found["faiss"], vectors[rows], truth)
    kernels = next((name for name in ("numkong", "simsimd") if name in sys.modules), "usearch's own")
    return {"version": usearch.__version__, "kernels": f"{kernels}, {acceleration}",
            "p50": p50, "recall": recall, "build": built}


def interleaved(ways: dict, queries: np.ndarray, repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each way, query by query, the order alternating (after one warm pass)."""
    for query in queries:
        for way in ways.values():
            way(query)
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for turn in range(repeats):
        for number, query in enumerate(queries):
            for name in (names if (number + turn) % 2 else names[::-1]):
                start = time.perf_counter()
                ways[name](query)
                seconds[name].append(time.perf_counter() - start)
    return seconds


def _recall(way, queries: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(way(q)[1:].tolist()) & set(t.tolist())) / K for q, t in zip(queries, truth, strict=True)]))


def install(version: str, cache: Path) -> Path:
    target = cache / f"usearch-{version}"
    if not (target / "usearch").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-warn-conflicts", "--target",
                        str(target), f"usearch=={version}"], check=True)
    return target


def run_version(version: str, args: argparse.Namespace) -> dict:
    target = install(version, args.cache)
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(here), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--n", str(args.n), "--queries",
               str(args.queries), "--ef", str(args.ef), "--repeats", str(args.repeats), "--metrics", args.metrics]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", default="2.23.0,2.26.0", help="comma-separated usearch releases")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--ef", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--metrics", default="cos,ip", help="comma-separated USearch metrics, an index each")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("BENCH_CACHE", "/tmp/bench-usearch-versions")))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.n, args.queries, args.ef, args.repeats, args.metrics.split(","))))
        return
    from _report import markdown_table, publish

    results = []
    for version in args.versions.split(","):
        print(f"usearch {version} …", flush=True)
        results.append(run_version(version.strip(), args))
    rows = [[r["version"], r["kernels"], metric, f"{r['p50'][metric] * 1e3:.3f}", f"{r['recall'][metric]:.3f}",
             f"{r['p50'][f'faiss beside {metric}'] * 1e3:.3f}", f"{r['recall']['faiss']:.3f}",
             f"{r['p50'][metric] / r['p50'][f'faiss beside {metric}']:.2f}×", f"{r['build'][metric]:.1f}",
             f"{r['build'][metric] / r['build']['faiss']:.2f}×"]
            for r in results for metric in args.metrics.split(",")]
    table = markdown_table(["usearch", "distance kernels", "metric", "usearch p50 ms", "recall@10",
                            "faiss p50 ms (same process)", "faiss recall@10", "usearch vs faiss", "usearch build s",
                            "build vs faiss"], rows)
    body = (f"{args.n:,} clustered unit vectors × {DIMS}, f32, M=16, efConstruction 128 (built with two "
            f"threads), ef={args.ef}, {args.queries} queries (indexed vectors, each "
            f"skipping itself), k={K}, one thread, {args.repeats} passes; each release in its own "
            f"interpreter, each index timed query by query in turn with FAISS (the reference beside it).\n\n{table}\n")
    publish("usearch-versions", "USearch releases side by side (bench_usearch_versions.py)", body,
            write=not args.no_write)


if __name__ == "__main__":
    main()
