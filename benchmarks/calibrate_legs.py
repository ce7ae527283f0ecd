"""Measure where a model's leg similarities sit: the scales the calibrated fusion reads them on.

    .venv/bin/python benchmarks/calibrate_legs.py COLL=QUERIES.jsonl [COLL=QUERIES.jsonl …]

For every text query of each labelled set, the similarity of the query to *every* indexed item is
computed in each text-query leg (``text-query:image``: the query against the pictures;
``text-query:text``: against the catalogue text). Per leg: the mean over all (query, item) pairs of all
sets; the spread *within* a query (the root mean square of each query's standard deviation over the
items), since the fusion ranks one query's candidates and a leg whose level moves from query to query
(the offline model's picture leg: every projected picture shares a direction with most queries) would
otherwise look noisier than it ranks; and the separation d′: how many of those standard deviations the
relevant items sit above their own query's mean, on average (how informative the leg is; the fusion
weighs it by that). Copy them into
``iconodex.models.catalog.LEG_SCALES``; the result goes into the ``leg-scales`` section of
docs/benchmarks.md. Legs not measured here (picture and more-like-this queries) are scaled by each
query's own candidates.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _report import markdown_table, publish

from iconodex import Collection

LEGS = {"text-query:image": "image", "text-query:text": "text"}


def leg_samples(coll_path: Path, queries_path: Path) -> tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(model, every pair's similarity per leg, the relevant pairs' similarities per leg)."""
    lines = [json.loads(line) for line in queries_path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    lines = [line for line in lines if "text" in line]
    with Collection.open(coll_path, read_only=True) as coll:
        ids = {key: item_id for item_id, key in
               coll.store.keys_for_ids([row[0] for row in coll.store.conn.execute("SELECT id FROM items")]).items()}
        keys = np.asarray(sorted(ids), dtype=np.int64)
        queries = coll.model.embed_texts([line["text"] for line in lines], query=True)
        samples, relevant = {}, {}
        for leg, space in LEGS.items():
            vectors, present = coll.engine.get(space, keys)
            projected = np.vstack([coll.project(space, q) for q in queries])
            sims = projected @ vectors[present].T
            wanted = np.asarray([[ids[int(key)] in line["relevant"] for key in keys[present]] for line in lines])
            samples[leg], relevant[leg] = sims, wanted
        return coll.model_name, samples, relevant


def leg_scale(sims: list[np.ndarray], wanted: list[np.ndarray]) -> tuple[float, float, float, int, int, float]:
    """(mean, within-query std, d′, pairs, relevant pairs, 99th percentile) over every set's (queries × items)."""
    values = np.concatenate([block.ravel() for block in sims])
    within = float(np.sqrt(np.mean(np.concatenate([block.var(axis=1) for block in sims]))))
    lifts = np.concatenate([(block - block.mean(axis=1, keepdims=True))[mask] for block, mask in zip(sims, wanted, strict=True)])
    return (float(values.mean()), within, float(lifts.mean() / within), len(values), len(lifts),
            float(np.percentile(values, 99)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", metavar="COLL=QUERIES", help="a collection and its text queries")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    measured = [leg_samples(Path(coll), Path(queries)) for coll, _, queries in (s.partition("=") for s in args.sets)]
    models = sorted({model for model, _, _ in measured})
    rows, scales = [], {}
    for leg in LEGS:
        mean, std, separation, pairs, hits, top = leg_scale([samples[leg] for _, samples, _ in measured],
                                                            [relevant[leg] for _, _, relevant in measured])
        scales[leg] = (round(mean, 4), round(std, 4), round(separation, 2))
        rows.append([f"`{leg}`", pairs, f"{mean:.4f}", f"{std:.4f}", f"{top:.4f}", hits, f"{separation:.2f}"])
    body = (f"Model {', '.join(models)}; the similarity of every text query to every indexed item, per leg. "
            f"`LEG_SCALES[{models[0]!r}] = {scales}`\n\n"
            + markdown_table(["leg", "pairs", "mean", "std within a query", "99th percentile", "relevant pairs",
                              "separation d′ (σ)"], rows))
    publish("leg-scales", f"Leg scales for the calibrated fusion ({', '.join(models)})", body,
            write=not args.no_write)


if __name__ == "__main__":
    main()
