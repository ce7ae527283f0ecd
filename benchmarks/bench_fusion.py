"""Which fusion finds the right picture: every leg alone and both fusions, per labelled set.

    .venv/bin/python benchmarks/bench_fusion.py NAME=COLL=QUERIES.jsonl [NAME=COLL=QUERIES.jsonl …]

Each set runs the rankings of ``iconodex eval --legs`` (iconodex.evaluate.VARIANTS) on the same
queries: the picture leg (alpha 1), the catalogue leg (alpha 0), the keyword leg alone, the plain
weighted mean the hybrid used first (alpha 0.5 + keyword) and the calibrated fusion (the default).
Per set: recall@1 and recall@10, and whether the default hybrid is within 0.01 of the best single leg.
Used with benchmarks/build_emoji_eval.py (one set per language) and build_openclipart_eval.py.

``--json OUT`` keeps the figures; ``--before OUT`` (the figures of an earlier run, e.g. with the previous
model's collections and code) puts them beside this run's, as ``before → after`` cells.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _report import markdown_table, publish

from iconodex import Collection
from iconodex.evaluate import VARIANTS, evaluate, load_queries

SINGLE_LEGS = ("picture", "catalogue", "keyword")
TOLERANCE = 0.01


def measure(coll_path: Path, queries_path: Path) -> tuple[str, int, dict[str, dict[int, float]]]:
    queries, _ = load_queries(queries_path)
    with Collection.open(coll_path, read_only=True) as coll:
        reports = {v.name: evaluate(coll, queries, (1, 10), variant=v) for v in VARIANTS}
        return coll.model_name, reports["catalogue"].queries, {name: r.recall for name, r in reports.items()}


def verdict(recall: dict[str, dict[int, float]]) -> str:
    """✓ when the calibrated hybrid is within TOLERANCE of the best single leg at both k."""
    ok = all(recall["hybrid (calibrated)"][k] >= max(recall[leg][k] for leg in SINGLE_LEGS) - TOLERANCE
             for k in (1, 10))
    return "✓" if ok else "✗"


def _cell(old: dict[int, float] | None, new: dict[int, float]) -> str:
    now = f"{new[1]:.2f} / {new[10]:.2f}"
    return f"{old[1]:.2f} / {old[10]:.2f} → {now}" if old else now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", metavar="NAME=COLL=QUERIES", help="a set's name, collection, queries")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--json", type=Path, help="write every set's recall here")
    parser.add_argument("--before", type=Path, help="an earlier run's --json: shown as before → after")
    args = parser.parse_args()
    names = [v.name for v in VARIANTS]
    before = json.loads(args.before.read_text()) if args.before else {}
    rows, models, kept = [], set(), {}
    for spec in args.sets:
        name, coll, queries = spec.split("=", 2)
        model, count, recall = measure(Path(coll), Path(queries))
        models.add(model)
        kept[name] = {v: {str(k): value for k, value in recall[v].items()} for v in names}
        old = {v: {int(k): value for k, value in ks.items()} for v, ks in before.get(name, {}).items()}
        cells = [_cell(old.get(v), recall[v]) for v in names]
        rows.append([name, count, *cells, (verdict(old) + " → " if old else "") + verdict(recall)])
        print(" | ".join(str(cell) for cell in rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(kept, indent=1))
    body = (f"Model {', '.join(sorted(models))}; recall@1 / recall@10 per ranking on the same queries"
            f"{' (before → after)' if before else ''}; "
            f"✓: the default (calibrated) hybrid is within {TOLERANCE} of the best single leg at both k.\n\n"
            + markdown_table(["set", "queries", *names, "hybrid ≥ best leg − 0.01"], rows))
    publish("fusion", f"Fusion: every leg alone and both hybrids ({', '.join(sorted(models))})", body,
            write=not args.no_write)


if __name__ == "__main__":
    main()
