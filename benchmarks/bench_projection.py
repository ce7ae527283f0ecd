"""The offline model's picture leg on held-out sets: ConSE alone, the learned projection alone, and both
combined (the shipped model), per labelled set; and what Lite0 and Lite2 cost per picture.

    python benchmarks/bench_projection.py --emoji COLL --openclipart COLL [--figures train.json …]

``--emoji`` / ``--openclipart``: the evaluation sets (build_emoji_eval.py, build_openclipart_eval.py,
default split) ingested by the *previous* offline model (version 1: ConSE alone). Their stored
``visual`` vectors are Lite0's pooled features as ingest computed them and their ``image`` vectors are
ConSE's, so the three picture legs are compared on exactly the same pictures, with the projection that
ships (src/iconodex/models/data/projection-lite0.npz), never trained or selected on these pictures.
Queries: every title (Open Clip Art) and every CLDR name in 14 languages (emoji); recall@10 of the
picture leg alone, as ``iconodex eval --alpha 1 --no-keyword`` computes it.

``--figures``: the JSON that train_projection.py wrote per variant (its validation figures), shown
next to each variant's time per picture, measured here in the same run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _report import markdown_table, publish
from build_emoji_eval import LANGUAGES
from train_projection import QuerySet, query_sets, recall_at_10

from iconodex import Collection
from iconodex.fetch.decode import decode_image
from iconodex.models import projection
from iconodex.models.base import fetch_side
from iconodex.models.offline import OfflineEncoder


def stored(coll_path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(item ids, visual vectors, image vectors) of a collection made by offline version 1."""
    with Collection.open(coll_path, read_only=True) as coll:
        ids = [row[0] for row in coll.store.conn.execute("SELECT id FROM items WHERE status = 'indexed' ORDER BY id")]
        keys = coll.store.keys_for_ids(ids)
        order = np.asarray([keys[i] for i in ids], dtype=np.int64)
        visual, present_v = coll.engine.get("visual", order)
        image, present_i = coll.engine.get("image", order)
        assert present_v.all() and present_i.all(), "every indexed item has both vectors"
        return ids, visual, image


def picture_legs(encoder: OfflineEncoder, sets: list[QuerySet], collections: dict[str, Path]) -> list[list[object]]:
    learned = projection.load("lite0")
    assert learned is not None, "no projection ships for lite0"
    held = {kind: stored(path) for kind, path in collections.items()}
    rows = []
    for qs in sets:
        ids, visual, conse_vectors = held["openclipart" if qs.name.startswith("openclipart") else "emoji"]
        queries = encoder.embed_texts(qs.texts, query=True)
        legs = {"ConSE alone (before)": conse_vectors,
                "projection alone": projection.combine(visual @ learned.weight + learned.bias, conse_vectors, 1.0),
                f"combined, share {learned.alpha:g} (shipped)": learned.apply(visual, conse_vectors)}
        recalls = {name: recall_at_10(queries, qs.relevant, vectors, ids) for name, vectors in legs.items()}
        before, after = recalls[list(legs)[0]], recalls[list(legs)[2]]
        ratio = f"{after / before:.1f}×" if before else "–"
        rows.append([qs.name, len(qs.texts), *(f"{value:.3f}" for value in recalls.values()), ratio])
        print(" | ".join(map(str, rows[-1])), flush=True)
    return rows


def seconds_per_picture(variant: str, files: list[Path], rounds: int = 2) -> float:
    """Decode + embed (both spaces) per picture, best of ``rounds``, batches of 16 as ingest uses."""
    encoder = OfflineEncoder(variant)
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        for start in range(0, len(files), 16):
            encoder.embed_images([decode_image(f, fetch_side(encoder)) for f in files[start:start + 16]])
        best = min(best, (time.perf_counter() - began) / len(files))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emoji", type=Path, required=True, help="the emoji eval set ingested by offline v1")
    parser.add_argument("--openclipart", type=Path, required=True, help="the Open Clip Art eval set, offline v1")
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parent / "_data")
    parser.add_argument("--figures", type=Path, nargs="*", default=[], help="train_projection.py --json outputs")
    parser.add_argument("--time-pictures", type=int, default=96)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    encoder = OfflineEncoder("lite0")
    sets = query_sets(args.data, "eval")
    rows = picture_legs(encoder, sets, {"emoji": args.emoji, "openclipart": args.openclipart})
    emoji_rows = [row for row in rows if str(row[0]).startswith("emoji")]
    files = sorted((args.data / "openclipart" / "images").rglob("*.png"))[: args.time_pictures // 2]
    files += sorted((args.data / "emoji" / "images").glob("*.png"))[: args.time_pictures // 2]
    figures = [entry for path in args.figures for entry in json.loads(path.read_text())]
    variants = sorted({"lite0", *(entry["variant"] for entry in figures)})
    cost = {variant: seconds_per_picture(variant, files) for variant in variants}
    cost_rows = []
    for entry in figures:
        validation = {name: np.mean(list(entry[f"validation {name}"].values())) for name in
                      ("conse", "projection", "combined")}
        cost_rows.append([entry["variant"], entry["train pictures"], entry.get("method", "ridge"), entry["lambda"],
                          entry["alpha"],
                          *(f"{validation[name]:.3f}" for name in validation),
                          f"{cost[entry['variant']] * 1000:.1f}",
                          f"{cost[entry['variant']] / cost['lite0']:.2f}×"])
    body = (
        "Picture leg alone (text → picture, recall@10) on the held-out evaluation sets, Lite0. "
        f"{len(emoji_rows)} emoji sets ({', '.join(LANGUAGES)}; 300 emoji each) and Open Clip Art's titles "
        "(build_openclipart_eval.py). The last column: combined ÷ ConSE alone (target ≥ 2×).\n\n"
        + markdown_table(["set", "queries", "ConSE alone (before)", "projection alone", "combined (shipped)",
                          "combined ÷ ConSE"], rows)
        + "\n\nLite0 against Lite2 (`train_projection.py --variants …`): the mean recall@10 over the validation "
        "sets (the calibration split: Open Clip Art titles and the emoji names in the validation languages, "
        "where the ridge strength λ and the share were chosen, so optimistic alike for both) and the time "
        f"to decode and embed one picture here, same run ({len(files)} pictures, batches of 16, best of 2).\n\n"
        + markdown_table(["variant", "train pictures", "fit", "λ", "share", "ConSE", "projection", "combined",
                          "ms / picture", "cost ÷ Lite0"], cost_rows)
    )
    publish("projection", "Offline picture leg: ConSE, learned projection, Lite0 vs Lite2 "
            "(bench_projection.py)", body, write=not args.no_write)


if __name__ == "__main__":
    main()
