"""A text query end to end (encode → ANN in two spaces → hybrid scoring → keyword leg → metadata)
on a large collection, with the real offline model's text encoder.

The collection is synthetic — random unit vectors and made-up catalogue records written through
the store and engine APIs (no pictures are decoded) — and cached under benchmarks/_data/ so a
rerun only times queries.

    .venv/bin/python benchmarks/bench_query.py --n 100000
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from _report import markdown_table, peak_rss_mb, percentiles, size_and_rounds, write_section
from _synthetic import build_synthetic

from iconodex import Collection
from iconodex.records import ImageRef, SourceRecord

DATA = Path(__file__).resolve().parent / "_data"
BATCH = 5_000
WORDS = ("harbour lighthouse portrait woman man child horse church bridge river mountain map letter "
         "ship garden street market flower dog cat tree castle window painting drawing photograph "
         "engraving poster coin vase chair table book manuscript soldier king queen saint angel").split()
QUERIES = ["a lighthouse on a rocky coast", "portrait of an old woman", "Pferde auf einer Weide",
           "une carte ancienne de la ville", "ships in a harbour at sunset", "a dog sleeping by the fire",
           "medieval manuscript with gold letters", "people at a street market", "a bridge over a river",
           "flowers in a blue vase"]


def fake_record(rng: np.random.Generator, number: int) -> SourceRecord:
    words = rng.choice(WORDS, size=6)
    return SourceRecord(id=f"item-{number}", image=ImageRef("path", f"/synthetic/{number}.jpg"),
                        title=" ".join(words[:3]).capitalize(),
                        metadata={"subject": list(dict.fromkeys(words[3:].tolist())),
                                  "creator": [f"Artist {number % 997}"]},
                        version="1")


def build(path: Path, n: int) -> float:
    """Write ``n`` items with image and text vectors; returns seconds taken."""
    rng = np.random.default_rng(0)
    return build_synthetic(path, n, lambda i: fake_record(rng, i), spaces=("image", "text"), chunk=BATCH)


def time_calls(call, rounds: int, case: int) -> list[float]:
    """Every call gets a text never seen before: the searcher caches query vectors, and a cache hit
    would hide the encoder's cost."""
    seconds = []
    for i in range(rounds):
        text = f"{QUERIES[i % len(QUERIES)]} #{case}.{i}"
        start = time.perf_counter()
        call(text)
        seconds.append(time.perf_counter() - start)
    return seconds


def measure(path: Path, rounds: int) -> list[list[object]]:
    rows = []
    with Collection.open(path, read_only=True) as coll:
        start = time.perf_counter()
        coll.search(QUERIES[0])  # model load + index open: reported separately, not in the percentiles
        rows.append(["first query (loads model, maps index)", f"{(time.perf_counter() - start) * 1000:.0f}", "-"])
        cases = {
            "encode only (e5 text encoder)": lambda q: coll.model.embed_texts([q], query=True),
            "search, hybrid + keyword (default)": lambda q: coll.search(q),
            "search, hybrid, no keyword leg": lambda q: coll.search(q, keyword=False),
            "search, picture only (alpha=1)": lambda q: coll.search(q, alpha=1.0, keyword=False),
            "search with a metadata filter": lambda q: coll.search(q, where={"subject": "horse"}),
        }
        for case, (name, call) in enumerate(cases.items()):
            p50, p95 = percentiles(time_calls(call, rounds, case))
            rows.append([name, f"{p50:.1f}", f"{p95:.1f}"])
    return rows


def main() -> None:
    args = size_and_rounds(__doc__, rounds=50)
    path = DATA / f"query-{args.n}"
    built = ""
    if not (path / "iconodex.db").exists():
        print(f"building a {args.n:,}-item collection at {path}")
        built = f" (built in {build(path, args.n):.0f} s)"
    rows = measure(path, args.rounds)
    table = markdown_table(["case", "p50 ms", "p95 ms"], rows)
    print(table)
    body = (f"{args.n:,} items with `image` and `text` vectors (384-d, the offline model's shared space) and "
            f"catalogue records{built}; {args.rounds} queries in 5 languages, one at a time, on a read-only "
            f"collection as the server opens it. Target: p50 ≤ 50 ms for the default search. "
            f"Peak RSS {peak_rss_mb():.0f} MB.\n\n{table}\n")
    if not args.no_write:
        write_section("query", "Text query end to end (bench_query.py)", body)


if __name__ == "__main__":
    main()
