"""How many candidates a fused ranking needs: the default hybrid's recall at 1, 10 and 20 (a page of
20, the server's default) with pools of 2 and 4 candidates per result shown (at least 50 either way).

    .venv/bin/python benchmarks/bench_pool_depth.py NAME=COLL=QUERIES.jsonl [NAME=COLL=QUERIES.jsonl …]

Each leg walks ``max(2 or 4 × (offset + limit), 50)`` deep and the legs re-score each other's
candidates (``search.searcher.POOL_PER_RESULT``), so the pool only changes pages above 12 results.
For a text query recall@k is whether its right picture is in the first k; for a "more like this"
query, the share of the first k that belong to the item's category (build_openclipart_eval.py's
``queries_category.jsonl``). Run it on calibration splits: this chooses a constant.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _report import markdown_table, publish

from iconodex import Collection
from iconodex.evaluate import evaluate, load_queries
from iconodex.search import searcher

POOLS = (2, 4)
KS = (1, 10, 20)


def measure(coll_path: Path, queries_path: Path) -> dict[int, dict[int, float]]:
    """Per pool: recall at each k."""
    queries, _ = load_queries(queries_path)
    found = {}
    with Collection.open(coll_path, read_only=True) as coll:
        for pool in POOLS:
            searcher.POOL_PER_RESULT = pool
            found[pool] = evaluate(coll, queries, KS).recall
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", metavar="NAME=COLL=QUERIES", help="a set's name, collection, queries")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    rows = []
    for spec in args.sets:
        name, coll, queries = spec.split("=", 2)
        found = measure(Path(coll), Path(queries))
        rows.append([name, *(" / ".join(f"{found[pool][k]:.3f}" for k in KS) for pool in POOLS)])
    table = markdown_table(["set", *(f"pool {pool} per result: recall@1 / @10 / @20" for pool in POOLS)], rows)
    body = (f"Default hybrid (alpha 0.5, keyword leg, calibrated fusion), pages of {max(KS)}, no relevance cut; "
            f"each leg walks max(pool × results, 50) deep.\n\n{table}\n")
    publish("pool-depth", "Candidate pool per result shown (bench_pool_depth.py)", body, write=not args.no_write)


if __name__ == "__main__":
    main()
