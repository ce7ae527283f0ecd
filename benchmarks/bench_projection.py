"""The offline model's picture leg on held-out sets, per EfficientNet-Lite variant: ConSE alone, the
learned projection alone, and both combined (what ships), per labelled set; and what each variant
costs per picture.

    python benchmarks/bench_projection.py [--variants lite0 lite2] [--figures train.json …]

The evaluation sets of build_emoji_eval.py and build_openclipart_eval.py (default split; ``--data``)
are decoded as ingest decodes them (``decode_image`` at the model's fetch size; a picture ingest
refuses, such as one above the 100-megapixel limit, is left out as ingest leaves it out) and
encoded by each variant with the projection that ships for it
(src/iconodex/models/data/projection-<variant>.npz), never trained or selected on these pictures.
Queries: every title (Open Clip Art) and every CLDR name in 14 languages (emoji); recall@10 of the
picture leg alone, as ``iconodex eval --alpha 1 --no-keyword`` computes it. The baseline ("before")
is Lite0's ConSE alone, the offline model's picture leg before any projection shipped.

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
from train_projection import query_sets, recall_at_10

from iconodex.errors import DecodeError
from iconodex.fetch.decode import decode_image
from iconodex.models import neighbours, projection
from iconodex.models.base import fetch_side
from iconodex.models.offline import DEFAULT_VARIANT, OfflineEncoder

BASELINE = "lite0"  # ConSE alone on Lite0: the picture leg before the projection


def held_out_pictures(data: Path) -> dict[str, list[tuple[str, Path]]]:
    """(item id as the eval sets name it, file) of each evaluation set's pictures."""
    clipart = data / "openclipart" / "images"
    return {"openclipart": [(path.relative_to(clipart).as_posix(), path) for path in sorted(clipart.rglob("*.png"))],
            "emoji": [(path.name, path) for path in sorted((data / "emoji" / "images").glob("*.png"))]}


def encoded(variant: str, pictures: list[tuple[str, Path]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids, pooled features, ConSE vectors) of the pictures ingest accepts, as ingest computes them."""
    encoder = OfflineEncoder(variant, projection=False)
    ids, visual, conse_vectors = [], [], []
    for start in range(0, len(pictures), 16):
        batch = []
        for item_id, path in pictures[start:start + 16]:
            try:
                batch.append((item_id, decode_image(path, fetch_side(encoder))))
            except DecodeError:
                continue
        vectors = encoder.embed_images([image for _, image in batch])
        ids += [item_id for item_id, _ in batch]
        visual.append(vectors["visual"])
        conse_vectors.append(vectors["image"])
    return ids, np.concatenate(visual), np.concatenate(conse_vectors)


def picture_legs(variants: list[str], data: Path) -> tuple[list[str], list[list[object]]]:
    pictures = held_out_pictures(data)
    text_encoder = OfflineEncoder(BASELINE, projection=False)
    legs: dict[str, dict[str, tuple[list[str], np.ndarray]]] = {"openclipart": {}, "emoji": {}}
    for variant in sorted({BASELINE, *variants}):
        learned, bridge = projection.load(variant), neighbours.load(variant)
        assert learned is not None, f"no projection ships for {variant}"
        for kind, files in pictures.items():
            ids, visual, conse_vectors = encoded(variant, files)
            legs[kind][f"{variant} ConSE alone"] = (ids, conse_vectors)
            legs[kind][f"{variant} projection alone"] = (ids, projection.combine(visual @ learned.weight + learned.bias,
                                                                                 conse_vectors, 1.0))
            legs[kind][f"{variant} combined, share {learned.alpha:g}"] = (ids, learned.apply(visual, conse_vectors))
            if bridge is not None:  # pack version 3: what new collections get
                legs[kind][f"{variant} combined with neighbours"] = (ids, bridge.apply(visual, conse_vectors))
    columns = list(legs["emoji"])
    rows = []
    for qs in query_sets(data, "eval"):
        queries = text_encoder.embed_texts(qs.texts, query=True)
        sets = legs["openclipart" if qs.name.startswith("openclipart") else "emoji"]
        recalls = {name: recall_at_10(queries, qs.relevant, vectors, ids) for name, (ids, vectors) in sets.items()}
        before = recalls[f"{BASELINE} ConSE alone"]
        ratios = [f"{recalls[name] / before:.1f}×" if before else "–" for name in columns if "combined" in name]
        rows.append([qs.name, len(qs.texts), *(f"{value:.3f}" for value in recalls.values()), *ratios])
        print(" | ".join(map(str, rows[-1])), flush=True)
    return columns, rows


def _shares(variants: list[str]) -> str:
    """Each shipped bridge's shares, ridge / neighbours / ConSE."""
    bridges = {variant: neighbours.load(variant) for variant in variants}
    return ", ".join(f"{variant} {b.ridge.alpha:g} / {b.neighbours.share:g} / {1 - b.ridge.alpha - b.neighbours.share:.1f}"
                     for variant, b in bridges.items() if b is not None) or "none shipped"


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
    parser.add_argument("--variants", nargs="+", default=["lite0", "lite2"], choices=["lite0", "lite1", "lite2"])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parent / "_data")
    parser.add_argument("--figures", type=Path, nargs="*", default=[], help="train_projection.py --json outputs")
    parser.add_argument("--time-pictures", type=int, default=96)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    columns, rows = picture_legs(args.variants, args.data)
    emoji_rows = [row for row in rows if str(row[0]).startswith("emoji")]
    files = sorted((args.data / "openclipart" / "images").rglob("*.png"))[: args.time_pictures // 2]
    files += sorted((args.data / "emoji" / "images").glob("*.png"))[: args.time_pictures // 2]
    figures = [entry for path in args.figures for entry in json.loads(path.read_text())]
    variants = sorted({BASELINE, *args.variants, *(entry["variant"] for entry in figures)})
    cost = {variant: seconds_per_picture(variant, files) for variant in variants}
    cost_rows = []
    for entry in figures:
        validation = {name: np.mean(list(entry[f"validation {name}"].values())) for name in
                      ("conse", "projection", "combined")}
        cost_rows.append([entry["variant"], entry["train pictures"], entry.get("method", "ridge"), entry["lambda"],
                          entry["alpha"], f"{entry['validation combined']['openclipart-titles']:.3f}",
                          *(f"{validation[name]:.3f}" for name in validation),
                          f"{cost[entry['variant']] * 1000:.1f}",
                          f"{cost[entry['variant']] / cost[BASELINE]:.2f}×"])
    combined = [name for name in columns if "combined" in name]
    body = (
        "Picture leg alone (text → picture, recall@10) on the held-out evaluation sets, per variant "
        f"(the default for new collections: {DEFAULT_VARIANT}). {len(emoji_rows)} emoji sets "
        f"({', '.join(LANGUAGES)}; 300 emoji each) and Open Clip Art's titles (build_openclipart_eval.py). "
        f"The last columns: each variant's combined picture leg ÷ {BASELINE}'s ConSE alone, the picture leg "
        "before the projection (target ≥ 2×). \"combined with neighbours\" is pack version 3 (the nearest-"
        "neighbour bridge + a ridge map fitted on every training picture + ConSE, shares "
        f"{_shares(sorted({BASELINE, *args.variants}))}; benchmarks/neighbour_bridge.py), what new collections get; \"combined, share\" is version 2.\n\n"
        + markdown_table(["set", "queries", *columns, *(f"{name} ÷ before" for name in combined)], rows)
        + "\n\nLite0 against Lite2 (`train_projection.py --variants …`): the validation split's recall@10 "
        "(the calibration split: Open Clip Art titles, and the mean over them and the emoji names in the "
        "validation languages, where the ridge strength λ, the emoji weight and the share were chosen, so "
        f"optimistic alike for both) and the time to decode and embed one picture here, same run ({len(files)} "
        "pictures, batches of 16, best of 2).\n\n"
        + markdown_table(["variant", "train pictures", "fit", "λ", "share", "Open Clip Art titles", "mean: ConSE",
                          "projection", "combined", "ms / picture", "cost ÷ Lite0"], cost_rows)
    )
    publish("projection", "Offline picture leg: ConSE, learned projection, neighbour bridge, Lite0 vs Lite2 "
            "(bench_projection.py)", body, write=not args.no_write)


if __name__ == "__main__":
    main()
