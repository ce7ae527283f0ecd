"""Measure where a model's leg similarities sit: the scales the calibrated fusion reads them on.

    .venv/bin/python benchmarks/calibrate_legs.py COLL=QUERIES.jsonl [COLL=QUERIES.jsonl …]

For every text query of each labelled set, the similarity of the query to *every* indexed item is
computed in each text-query leg (``text-query:image``: the query against the pictures;
``text-query:text``: against the catalogue text), and the mean and standard deviation over all
(query, item) pairs of all sets are reported per leg. Copy them into
``iconodex.models.catalog.LEG_SCALES``; the result goes into the ``leg-scales`` section of
docs/benchmarks.md. Legs not measured here (picture and more-like-this queries) are scaled by each
query's own candidates.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _report import command_line, markdown_table, write_section

from iconodex import Collection

LEGS = {"text-query:image": "image", "text-query:text": "text"}
PAGE = 100_000


def leg_samples(coll_path: Path, queries_path: Path) -> tuple[str, dict[str, np.ndarray]]:
    texts = [json.loads(line)["text"] for line in queries_path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#") and "text" in json.loads(line)]
    with Collection.open(coll_path, read_only=True) as coll:
        keys = np.asarray(coll.store.embedded_keys(PAGE), dtype=np.int64)
        queries = coll.model.embed_texts(texts, query=True)
        samples = {}
        for leg, space in LEGS.items():
            vectors, present = coll.engine.get(space, keys)
            projected = np.vstack([coll.project(space, q) for q in queries])
            samples[leg] = (projected @ vectors[present].T).ravel()
        return coll.model_name, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", metavar="COLL=QUERIES", help="a collection and its text queries")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    measured = [leg_samples(Path(coll), Path(queries)) for coll, _, queries in (s.partition("=") for s in args.sets)]
    models = sorted({model for model, _ in measured})
    rows, scales = [], {}
    for leg in LEGS:
        values = np.concatenate([samples[leg] for _, samples in measured])
        scales[leg] = (round(float(values.mean()), 4), round(float(values.std()), 4))
        rows.append([f"`{leg}`", len(values), f"{scales[leg][0]:.4f}", f"{scales[leg][1]:.4f}",
                     f"{np.percentile(values, 99):.4f}"])
    body = (f"Model {', '.join(models)}; the similarity of every text query to every indexed item, per leg. "
            f"`LEG_SCALES[{models[0]!r}] = {scales}`\n\n"
            + markdown_table(["leg", "pairs", "mean", "std", "99th percentile"], rows))
    print(body)
    if not args.no_write:
        write_section("leg-scales", f"Leg scales for the calibrated fusion ({', '.join(models)})", body,
                      command_line())


if __name__ == "__main__":
    main()
