"""The map's layout (``iconodex map``): openTSNE, which iconodex uses, against UMAP (umap-learn), in
the same run on the same synthetic clustered vectors, on 2 threads each.

Per method and size: seconds, peak memory (each fit runs in its own process), how much of each
item's 10 nearest neighbours in the original space (cosine) are still among its 10 nearest on the
map (on a sample of 1,000 items), and the share of map neighbours from the same synthetic
cluster (against the same share in the original space).

    .venv/bin/python benchmarks/bench_map.py --sizes 10000 100000
    .venv/bin/python benchmarks/bench_map.py --sizes 3000 --no-write   # a quick look
    .venv/bin/python benchmarks/bench_map.py --sizes 100000 --methods umap   # one fit, results kept in --results
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
from _report import markdown_table, peak_rss_mb, publish

DIMS = 256
CLUSTERS = 50
NOISE = 0.14  # per dimension, around unit cluster centres: ~0.94 of 10-NN share a cluster
SAMPLE = 1000
K = 10
METHODS = ("opentsne", "opentsne-p30", "umap")  # iconodex's layout (perplexity map.PERPLEXITY), the customary 30


def clustered(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLUSTERS, DIMS))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, CLUSTERS, n)
    vectors = centres[labels] + NOISE * rng.standard_normal((n, DIMS))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), labels


def fit(method: str, vectors: np.ndarray) -> np.ndarray:
    if method.startswith("opentsne"):
        from iconodex.map import PERPLEXITY, fit_layout

        _, _, perplexity = method.partition("-p")
        return fit_layout(vectors, perplexity=float(perplexity or PERPLEXITY))[0]
    import umap

    return umap.UMAP(n_components=2, metric="cosine", n_jobs=2, random_state=None).fit_transform(vectors)


def nearest(space: np.ndarray, queries: np.ndarray, cosine: bool) -> np.ndarray:
    if cosine:
        distance = -(queries @ space.T)
    else:
        distance = (queries ** 2).sum(1)[:, None] - 2 * queries @ space.T + (space ** 2).sum(1)[None, :]
    return np.argsort(distance, axis=1)[:, 1:K + 1]  # the item itself is its own nearest


def child(method: str, n: int) -> dict[str, float]:
    vectors, labels = clustered(n)
    load = os.getloadavg()[0]  # fits run one per process, sometimes in separate runs: each says how busy the box was
    started = time.perf_counter()
    points = fit(method, vectors).astype(np.float64)
    seconds = time.perf_counter() - started
    sample = np.random.default_rng(1).choice(n, min(SAMPLE, n), replace=False)
    before = nearest(vectors, vectors[sample], cosine=True)
    after = nearest(points, points[sample], cosine=False)
    kept = np.mean([len(set(a) & set(b)) / K for a, b in zip(before, after, strict=True)])
    return {"seconds": seconds, "load": load, "peak_mb": peak_rss_mb(), "kept": float(kept),
            "same_map": float((labels[after] == labels[sample][:, None]).mean()),
            "same_original": float((labels[before] == labels[sample][:, None]).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--methods", nargs="+", default=list(METHODS),
                        help="opentsne (iconodex's settings), opentsne-pN (perplexity N), umap")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per fit")
    parser.add_argument("--results", type=Path, default=Path("bench_map.json"), help="kept as each fit ends")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--report-only", action="store_true", help="write the section from --results, fit nothing")
    parser.add_argument("--page", type=int, metavar="N", help="instead: time the /map page with N items")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.page:
        from _map_page import time_page

        body = time_page(args.page)
        publish("map-page", f"Map page at {args.page:,} items (headless Chromium)", body, write=not args.no_write)
        return
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    for n in args.sizes:
        for method in args.methods:
            key = f"{method}/{n}"
            if key in results or args.report_only:
                continue
            try:
                done = subprocess.run([sys.executable, __file__, "--child", method, str(n)], capture_output=True,
                                      text=True, timeout=args.timeout, check=True)
                results[key] = json.loads(done.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                results[key] = {"timeout": args.timeout}
            print(key, results[key], flush=True)
            args.results.write_text(json.dumps(results, indent=1))
    body = report(results)
    publish("map-layout", "Map layout (openTSNE vs UMAP)", body, write=not args.no_write)


def report(results: dict[str, dict]) -> str:
    rows = []
    for key, r in sorted(results.items(), key=lambda kv: (int(kv[0].split("/")[1]), kv[0])):
        method, n = key.split("/")
        if "timeout" in r:
            rows.append([f"{int(n):,}", method, f"> {r['timeout']:.0f}", "–", "–", "–", "–", "–"])
            continue
        rows.append([f"{int(n):,}", method, f"{r['seconds']:.1f}", f"{r.get('load', float('nan')):.1f}",
                     f"{r['peak_mb']:.0f}", f"{r['kept']:.3f}",
                     f"{r['kept'] / r['seconds'] * 100:.2f}", f"{r['same_map']:.3f} ({r['same_original']:.3f})"])
    ratios = []
    for n in sorted({int(k.split("/")[1]) for k in results}):
        ours = results.get(f"opentsne/{n}", {})
        for method in METHODS[1:]:
            other = results.get(f"{method}/{n}", {})
            if "seconds" in ours and "seconds" in other:
                ratios.append(f"{n:,} items: {method} takes {other['seconds'] / ours['seconds']:.2f}× the time of "
                              f"iconodex's openTSNE and keeps {other['kept'] / ours['kept']:.2f}× its share of true "
                              "neighbours.")
    table = markdown_table(["items", "method", "seconds", "load at start", "peak MB", "10-NN kept", "kept per 100 s",
                            "same-cluster map neighbours (original)"], rows)
    return (f"{DIMS}-d unit vectors around {CLUSTERS} cluster centres; each fit in its own process, 2 threads; "
            "opentsne is iconodex's layout (perplexity map.PERPLEXITY), opentsne-p30 the customary perplexity 30; "
            f"UMAP's time includes numba's compilation, as a first `iconodex map` would pay it. Rows come from "
            "`bench_map.py --sizes N [--methods …]` runs under the benchmark lock (a size, or some of its methods, "
            "per run; `load at start` says how busy the box was), gathered with `--report-only`.\n\n"
            f"{table}\n\n"
            + "\n".join(ratios))


if __name__ == "__main__":
    main()
