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
weighs it by that). Then the hold of the most informative leg: how far another item must score above
that leg's best candidate, on the fused scale (alpha 0.5), to take first place from it; of ``HOLDS``
that keep every set's right-first share within 0.01 of its best single leg's (issue 13's rule), the one
that puts a right answer first for the most queries of all sets (0: no hold; ties: the smallest). Copy
them into ``iconodex.models.catalog.LEG_SCALES``; the result goes into the ``leg-scales`` section of
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


HOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
SET_MARGIN = 0.01  # how far below its best single leg a set's fused recall may fall (issue 13)


def leg_samples(coll_path: Path, queries_path: Path) -> tuple[str, dict[str, np.ndarray], np.ndarray]:
    """(model, every (query, item) similarity per leg (NaN: no vector), which pairs are relevant)."""
    lines = [json.loads(line) for line in queries_path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    lines = [line for line in lines if "text" in line]
    with Collection.open(coll_path, read_only=True) as coll:
        ids = {key: item_id for item_id, key in
               coll.store.keys_for_ids([row[0] for row in coll.store.conn.execute("SELECT id FROM items")]).items()}
        keys = np.asarray(sorted(ids), dtype=np.int64)
        queries = coll.model.embed_texts([line["text"] for line in lines], query=True)
        samples = {}
        for leg, space in LEGS.items():
            vectors, present = coll.engine.get(space, keys)
            projected = np.vstack([coll.project(space, q) for q in queries])
            samples[leg] = np.where(present, projected @ vectors.T, np.nan)
        relevant = np.asarray([[ids[int(key)] in line["relevant"] for key in keys] for line in lines])
        return coll.model_name, samples, relevant


def leg_scale(sims: list[np.ndarray], wanted: list[np.ndarray]) -> tuple[float, float, float, int, int, float]:
    """(mean, within-query std, d′, pairs, relevant pairs, 99th percentile) over every set's (queries × items)."""
    values = np.concatenate([block[~np.isnan(block)] for block in sims])
    within = float(np.sqrt(np.mean(np.concatenate([np.nanvar(block, axis=1) for block in sims]))))
    lifts = np.concatenate([(block - np.nanmean(block, axis=1, keepdims=True))[mask & ~np.isnan(block)]
                            for block, mask in zip(sims, wanted, strict=True)])
    return (float(values.mean()), within, float(lifts.mean() / within), len(values), len(lifts),
            float(np.percentile(values, 99)))


def first_right(samples: dict[str, np.ndarray], relevant: np.ndarray, scales: dict[str, tuple[float, float, float]],
                strongest: str, hold: float) -> np.ndarray:
    """Per query, whether the calibrated fusion (alpha 0.5) with ``hold`` puts a right answer first."""
    evidence = sum(np.nan_to_num((samples[leg] - mean) / std * separation)
                   for leg, (mean, std, separation) in scales.items()) / sum(s[2] for s in scales.values())
    winner = np.nanargmax(samples[strongest], axis=1)
    top = np.argmax(evidence, axis=1)
    rows = np.arange(len(evidence))
    held = evidence[rows, top] - evidence[rows, winner] <= hold
    return relevant[rows, np.where(held, winner, top)]


def right_first_alone(samples: dict[str, np.ndarray], relevant: np.ndarray) -> float:
    """The share of queries whose first result is right with the best single leg ranking alone."""
    rows = np.arange(len(relevant))
    return max(float(np.mean(relevant[rows, np.nanargmax(np.where(np.isnan(sims), -np.inf, sims), axis=1)]))
               for sims in samples.values())


def fitted_hold(measured: list, scales: dict[str, tuple[float, float, float]]) -> tuple[str, float, list[list]]:
    """(the most informative leg, its hold, a row per hold tried: the share of all queries answered right
    first, and the worst set's share less its best single leg's).

    Kept: of the holds under which no set answers right first less often than its best leg alone by
    more than ``SET_MARGIN`` (issue 13's rule for the fusion, per labelled set), the one that answers
    the most queries of all sets right first (ties: the smallest); where none keeps every set within
    the margin, the one whose worst set comes closest."""
    strongest = max(scales, key=lambda leg: scales[leg][2])
    best_alone = [right_first_alone(samples, relevant) for _, samples, relevant in measured]
    shares, worst = [], []
    for hold in HOLDS:
        right = [first_right(samples, relevant, scales, strongest, hold) for _, samples, relevant in measured]
        shares.append(float(np.mean(np.concatenate(right))))
        worst.append(min(float(np.mean(r)) - alone for r, alone in zip(right, best_alone, strict=True)))
    passing = [i for i, gap in enumerate(worst) if gap >= -SET_MARGIN - 1e-9]  # exactly the margin passes
    kept = (max(passing, key=lambda i: (shares[i], -i)) if passing
            else max(range(len(HOLDS)), key=lambda i: (worst[i], shares[i])))
    return strongest, HOLDS[kept], [[hold if hold else "0 (none)", f"{share:.4f}", f"{gap:+.4f}"]
                                    for hold, share, gap in zip(HOLDS, shares, worst, strict=True)]


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
                                                            [relevant for _, _, relevant in measured])
        scales[leg] = (round(mean, 4), round(std, 4), round(separation, 2))
        rows.append([f"`{leg}`", pairs, f"{mean:.4f}", f"{std:.4f}", f"{top:.4f}", hits, f"{separation:.2f}"])
    strongest, hold, hold_rows = fitted_hold(measured, scales)
    if hold:
        scales[strongest] = (*scales[strongest], hold)
    body = (f"Model {', '.join(models)}; the similarity of every text query to every indexed item, per leg. "
            f"`LEG_SCALES[{models[0]!r}] = {scales}`\n\n"
            + markdown_table(["leg", "pairs", "mean", "std within a query", "99th percentile", "relevant pairs",
                              "separation d′ (σ)"], rows)
            + f"\n\nThe hold of `{strongest}` (the most informative leg): per margin tried, the share of all "
            f"queries whose first result (fused at alpha 0.5, every item a candidate, no keyword leg) is right, "
            f"and the worst set's share less that of its best leg alone; kept: {hold or 'none'}, the most right "
            f"first of the holds that keep every set within {SET_MARGIN:g} of its best leg (else the closest).\n\n"
            + markdown_table(["hold (σ of the fused scale)", "right first", "worst set − its best leg"], hold_rows))
    publish("leg-scales", f"Leg scales for the calibrated fusion ({', '.join(models)})", body,
            write=not args.no_write)


if __name__ == "__main__":
    main()
