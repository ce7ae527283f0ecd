"""Measure the default relevance cut of a model: the score below which a text query's results are
more likely wrong than right.

    .venv/bin/python benchmarks/calibrate_relevance.py COLL=QUERIES.jsonl [COLL=QUERIES.jsonl …]

Each pair is a collection and a labelled set of text queries (``{"text": …, "relevant": [ids]}``;
``relevant`` may be empty: a query for something the collection does not hold, whose right answer
is "no good match"). Every query is run at the collection's defaults (alpha, keyword leg) with no
cut, and each (query, item) pair is labelled relevant or not. For each candidate cut the script
reports, per labelled set, the share of relevant pairs kept (recall), the share of kept pairs that
are relevant (precision), their F1, and the share of no-match queries left empty. The chosen cut
has the highest mean F1 over the sets (so a big set does not drown a small one) among the cuts that
keep at least ``--min-recall`` of the relevant results in every set: a wrong result shown costs the
user a glance, a right one hidden costs the search. The result goes
into the ``relevance`` section of docs/benchmarks.md; copy the chosen value into
``iconodex.models.catalog.RELEVANCE_CUTS``.

Used for the offline model with the demo set (``benchmarks/data/demo_queries.jsonl`` on
``iconodex demo``'s collection) and Open Clip Art (``build_openclipart_eval.py``'s title queries).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _report import markdown_table, publish

from iconodex import Collection

NO_CUT = -1.0  # cosine-based scores are never below -1
CUTS = np.round(np.arange(0.10, 0.501, 0.01), 2)


@dataclass
class Pairs:
    """Scores of every (query, item) pair of one labelled set, and which pairs are relevant."""

    name: str
    model: str
    scores: list[np.ndarray]
    relevant: list[np.ndarray]

    def measure(self, cut: float) -> tuple[float, float, float, float]:
        """(recall, precision, F1, share of no-match queries left empty) at ``cut``."""
        kept = [scores >= cut for scores in self.scores]
        hits = sum(int((k & r).sum()) for k, r in zip(kept, self.relevant, strict=True))
        shown = sum(int(k.sum()) for k in kept)
        wanted = sum(int(r.sum()) for r in self.relevant)
        recall = hits / wanted if wanted else 1.0
        precision = hits / shown if shown else 1.0
        f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
        empty = [not k.any() for k, r in zip(kept, self.relevant, strict=True) if not r.any()]
        return recall, precision, f1, (sum(empty) / len(empty) if empty else 1.0)


def score_pairs(coll_path: Path, queries_path: Path) -> Pairs:
    queries = [json.loads(line) for line in queries_path.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.lstrip().startswith("#")]
    with Collection.open(coll_path, read_only=True) as coll:
        size = min(coll.indexed_count(), coll.settings.max_limit)
        scores, relevant = [], []
        for query in queries:
            results = coll.search(query["text"], limit=size, min_score=NO_CUT)
            scores.append(np.asarray([result.score for result in results]))
            relevant.append(np.asarray([result.id in set(query["relevant"]) for result in results], dtype=bool))
        return Pairs(queries_path.name, coll.model_name, scores, relevant)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", metavar="COLL=QUERIES", help="a collection and its labelled set")
    parser.add_argument("--min-recall", type=float, default=0.8, help="share of relevant results a cut must keep")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    sets = [score_pairs(Path(coll), Path(queries)) for coll, _, queries in (s.partition("=") for s in args.sets)]
    mean_f1 = [float(np.mean([pairs.measure(cut)[2] for pairs in sets])) for cut in CUTS]
    eligible = [f1 if min(pairs.measure(cut)[0] for pairs in sets) >= args.min_recall else -1.0
                for cut, f1 in zip(CUTS, mean_f1, strict=True)]
    best = float(CUTS[int(np.argmax(eligible))])
    header = ["cut", *(f"{pairs.name}: recall / precision / F1 / no-match empty" for pairs in sets), "mean F1"]
    rows = []
    for cut, f1 in zip(CUTS, mean_f1, strict=True):
        if abs(cut - best) < 0.051 or cut in (0.1, 0.2, 0.3, 0.4, 0.5):
            cells = [" / ".join(f"{v:.2f}" for v in pairs.measure(cut)) for pairs in sets]
            rows.append([f"**{cut:.2f}**" if cut == best else f"{cut:.2f}", *cells, f"{f1:.3f}"])
    models = sorted({pairs.model for pairs in sets})
    body = (f"Model {', '.join(models)}; {sum(len(p.scores) for p in sets)} text queries at the default alpha "
            f"and keyword leg; chosen cut **{best:.2f}**: the highest mean F1 among the cuts that keep at least "
            f"{args.min_recall:.0%} of the relevant results in every set.\n\n"
            + markdown_table(header, rows))
    publish("relevance", f"Default relevance cut ({', '.join(models)})",
            body, write=not args.no_write)


if __name__ == "__main__":
    main()
