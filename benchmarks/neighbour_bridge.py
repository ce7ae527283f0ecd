"""The offline model's non-parametric picture → text bridge (pack version 3), mixed with
train_projection.py's ridge map and ConSE, chosen on the validation split only.

    python benchmarks/train_projection.py --variants lite0 --train-drawings 0   # fills the caches in --work
    python benchmarks/neighbour_bridge.py                                          # the sweep (validation)
    python benchmarks/neighbour_bridge.py --recipe '{"dims": 128, "k": 10, "tau": 0.1, "ridge": 0.4, "neighbours": 0.4}' --held-out
    python benchmarks/neighbour_bridge.py --recipe '…the same…' --write   # → src/iconodex/models/data/

For a picture, its k nearest *training* pictures by pooled features (L2-normalised, optionally
projected on the training features' first ``dims`` principal components and normalised again) vote
with ``softmax(cosine / tau)`` weights; the bridge's vector is the normalised weighted mean of their
text targets (the same e5 query vectors the ridge map is fitted to). The picture's vector is then
``normalise(r·ridge + n·neighbours + (1 − r − n)·ConSE)``. ``--write`` stores what the offline model
applies (src/iconodex/models/neighbours.py): the principal components, the training pictures' reduced
features and their targets (7,507 × (128 + 384) float16) in neighbours-<variant>.npz, the ridge map in
ridge-<variant>.npz; the same caches give the same bytes.

Training pictures, targets, splits and the ridge fit are train_projection.py's (all 6,362 training
drawings by title, 1,145 emoji by English CLDR name). The sweep prints, per (dims, k, tau), the best
shares by the validation mean train_projection.py selects on; ``--held-out`` fits the one recipe
given and prints its figures on the evaluation split too (a check, never a selection).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_projection import held_out_pictures
from train_projection import (
    Item,
    Pictures,
    QuerySet,
    clipart_items,
    emoji_items,
    fit_ridge,
    picture_features,
    pixels,
    query_sets,
    recalls,
    split_pictures,
    summary,
    text_vectors,
)

from iconodex.fetch.decode import DEFAULT_MAX_PIXELS, decode_image
from iconodex.models import neighbours, projection
from iconodex.models.base import l2_normalise
from iconodex.models.offline import OfflineEncoder

SHARES = [(r / 10, n / 10) for r in range(11) for n in range(11 - r)]  # ridge, neighbours; ConSE the rest
RIDGE = {"lambda": 3.0, "emoji_weight": 5.0}  # train_projection.py's choice for Lite0 on all drawings


def principal(features: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """The training features' mean and first ``dims`` principal directions, (features, dims)."""
    mean = features.mean(axis=0)
    return mean, np.linalg.svd(features - mean, full_matrices=False)[2][:dims].T.astype(np.float32)


def reducer(features: np.ndarray, dims: int) -> Callable[[np.ndarray], np.ndarray]:
    """Features → the space neighbours are found in: the first ``dims`` principal components of the
    training features (0: all 1,280 features), normalised."""
    if not dims:
        return lambda x: l2_normalise(np.asarray(x, np.float32))
    mean, basis = principal(features, dims)
    return lambda x: l2_normalise((np.asarray(x, np.float32) - mean) @ basis)


def neighbour_vectors(queries: np.ndarray, bank: np.ndarray, targets: np.ndarray, k: int, tau: float) -> np.ndarray:
    """The softmax(cosine / tau)-weighted mean of the k nearest bank rows' targets, normalised."""
    similarity = queries @ bank.T
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    logits = np.take_along_axis(similarity, nearest, axis=1) / tau
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    return l2_normalise(np.einsum("qk,qkd->qd", weights, targets[nearest]))


def mixed(ridge: np.ndarray, neighbours: np.ndarray, conse_vectors: np.ndarray, r: float, n: float) -> np.ndarray:
    return l2_normalise(r * ridge + n * neighbours + (1.0 - r - n) * conse_vectors)


class Bridge:
    """The training side: ridge map, neighbour bank and targets."""

    def __init__(self, features: np.ndarray, targets: np.ndarray, is_emoji: np.ndarray) -> None:
        weight, bias = fit_ridge(features, targets, RIDGE["lambda"], np.where(is_emoji, RIDGE["emoji_weight"], 1.0))
        self.weight, self.bias = weight.astype(np.float32), bias.astype(np.float32)
        self.features, self.targets, self.is_emoji = features, targets, is_emoji

    def legs(self, pictures: Pictures, dims: int, k: int, tau: float) -> tuple[np.ndarray, np.ndarray]:
        reduce = reducer(self.features, dims)
        near = neighbour_vectors(reduce(pictures.features), reduce(self.features), self.targets, k, tau)
        return l2_normalise(pictures.features @ self.weight + self.bias), near


def write(bridge: Bridge, variant: str, recipe: dict) -> None:
    """Store the recipe's bridge where the package ships it (what models/neighbours.py loads)."""
    mean, basis = principal(bridge.features, recipe["dims"])
    bank = l2_normalise((bridge.features - mean) @ basis)
    print("wrote", projection.save(variant, bridge.weight, bridge.bias, recipe["ridge"], pattern=neighbours.RIDGE_FILE),
          neighbours.save(variant, {"mean": mean, "components": basis, "bank": bank, "targets": bridge.targets},
                          recipe["k"], recipe["tau"], recipe["neighbours"]), flush=True)


def sweep(bridge: Bridge, sets: list, texts: dict, pictures: dict[str, Pictures], args: argparse.Namespace) -> None:
    for dims, k, tau in itertools.product(args.dims, args.ks, args.taus):
        legs = {kind: bridge.legs(p, dims, k, tau) for kind, p in pictures.items()}
        best = max((summary(recalls(sets, texts, pictures, {kind: mixed(*legs[kind], p.conse, r, n)
                                                           for kind, p in pictures.items()})), r, n)
                   for r, n in SHARES)
        alone = summary(recalls(sets, texts, pictures, {kind: legs[kind][1] for kind in pictures}))
        print(json.dumps({"dims": dims, "k": k, "tau": tau, "ridge": best[1], "neighbours": best[2]}),
              f"validation {best[0]:.3f}, neighbours alone {alone:.3f}", flush=True)


def rankings(bridge: Bridge, pictures: dict[str, Pictures], recipe: dict) -> dict[str, dict[str, np.ndarray]]:
    """The picture vectors each reported row ranks by: ConSE, version 2's mix and the recipe's."""
    legs = {kind: bridge.legs(p, recipe["dims"], recipe["k"], recipe["tau"]) for kind, p in pictures.items()}
    return {"ConSE alone": {kind: p.conse for kind, p in pictures.items()},
            f"ridge + ConSE, share {recipe['ridge'] + recipe['neighbours']:g}": {
                kind: mixed(legs[kind][0], p.conse, p.conse, recipe["ridge"] + recipe["neighbours"], 0.0)
                for kind, p in pictures.items()},
            "ridge + neighbours + ConSE": {kind: mixed(*legs[kind], p.conse, recipe["ridge"], recipe["neighbours"])
                                           for kind, p in pictures.items()}}


def report(bridge: Bridge, sets: list, texts: dict, pictures: dict[str, Pictures], recipe: dict, label: str) -> None:
    for name, vectors in rankings(bridge, pictures, recipe).items():
        got = recalls(sets, texts, pictures, vectors)
        print(f"{label} {name}: mean {summary(got):.3f} |", " | ".join(f"{k.removeprefix('emoji-')} {v:.3f}"
                                                                       for k, v in got.items()), flush=True)


def without_near_copies(sets: list, pictures: dict[str, Pictures], training_drawings: np.ndarray,
                         threshold: float) -> tuple[list, int]:
    """The Open Clip Art query set less the queries whose drawing has a training drawing above
    ``threshold`` cosine of its pooled features (a recoloured or re-titled copy the duplicate filter
    let through), and how many of the held-out drawings have one."""
    clipart = pictures["clipart"]
    nearest = (l2_normalise(clipart.features.astype(np.float32)) @ l2_normalise(training_drawings).T).max(axis=1)
    copied = {key for key, cosine in zip(clipart.keys, nearest, strict=True) if cosine > threshold}
    titles = next(qs for qs in sets if qs.name == "openclipart-titles")
    kept = [i for i, wanted in enumerate(titles.relevant) if not wanted & copied]
    return [QuerySet(titles.name, [titles.texts[i] for i in kept], [titles.relevant[i] for i in kept])], len(copied)


def report_near_copies(bridge: Bridge, sets: list, texts: dict, pictures: dict[str, Pictures], recipe: dict,
                       thresholds: list[float]) -> None:
    """The held-out Open Clip Art figures again, without the queries whose drawing has a near-copy
    in training: how much of the gain is finding the copy rather than reading the drawing."""
    drawings = bridge.features[~bridge.is_emoji].astype(np.float32)
    ranked = rankings(bridge, {"clipart": pictures["clipart"]}, recipe)
    for threshold in thresholds:
        clean, copied = without_near_copies(sets, pictures, drawings, threshold)
        got = {name: recalls(clean, texts, pictures, vectors)[clean[0].name] for name, vectors in ranked.items()}
        print(f"held-out, the {len(clean[0].texts)} titles whose drawing has no training drawing above cosine "
              f"{threshold:g} ({copied} of {len(pictures['clipart'].keys)} drawings have one):",
              " | ".join(f"{name} {value:.3f}" for name, value in got.items()), flush=True)


def held_out(encoder: OfflineEncoder, data: Path, work: Path) -> tuple[list, dict, dict[str, Pictures]]:
    files = held_out_pictures(data)
    items = [Item(key, "eval", [], lambda side, path=path: decode_image(path, side))
             for kind in ("openclipart", "emoji") for key, path in files[kind]
             if kind == "emoji" or pixels(path) <= DEFAULT_MAX_PIXELS]  # as ingest refuses them
    feats = picture_features(encoder, items, work / f"eval-features-{encoder.variant}")
    keys = feats["keys"].tolist()
    pictures = {kind: split_pictures(encoder, feats, keys, {k for k in keys if ("/" in k) == (kind == "clipart")})
                for kind in ("clipart", "emoji")}
    sets = query_sets(data, "eval")
    texts = text_vectors(encoder, [t for qs in sets for t in qs.texts], work / "eval-queries.npz")
    return sets, texts, pictures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = Path(__file__).resolve().parent
    parser.add_argument("--variant", default="lite0", choices=["lite0", "lite1", "lite2"])
    parser.add_argument("--png-root", type=Path, default=Path("/usr/share/openclipart/png"))
    parser.add_argument("--svg-root", type=Path, default=Path("/usr/share/openclipart/svg"))
    parser.add_argument("--data", type=Path, default=here / "_data")
    parser.add_argument("--work", type=Path, default=here / "_data" / "projection", help="train_projection.py's caches")
    parser.add_argument("--dims", type=int, nargs="+", default=[0, 64, 128, 256])
    parser.add_argument("--ks", type=int, nargs="+", default=[5, 10, 20, 50])
    parser.add_argument("--taus", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    parser.add_argument("--validation-languages", nargs="+", default=["en", "fr", "ja", "zh"])
    parser.add_argument("--recipe", type=json.loads, help="one recipe (JSON, as the sweep prints) to report")
    parser.add_argument("--held-out", action="store_true", help="with --recipe: its figures on the evaluation split too")
    parser.add_argument("--near-copies", type=float, nargs="*", default=[0.9, 0.8], metavar="COSINE",
                        help="with --held-out: Open Clip Art again without titles whose drawing has a training "
                             "drawing above this cosine")
    parser.add_argument("--write", action="store_true", help="with --recipe: store it in the package")
    args = parser.parse_args()
    items = [item for item in clipart_items(args.png_root, args.svg_root) + emoji_items(["en"]) if item.split != "eval"]
    encoder = OfflineEncoder(args.variant, projection=False)
    feats = picture_features(encoder, items, args.work / f"features-{args.variant}")
    keys, by_key = feats["keys"].tolist(), {item.key: item for item in items}
    sets = [qs for qs in query_sets(args.data, "validation")
            if qs.name.removeprefix("emoji-") in ("openclipart-titles", *args.validation_languages)]
    texts = text_vectors(encoder, [t for item in items for t in item.texts] + [t for qs in sets for t in qs.texts],
                         args.work / "texts.npz")
    train = [i for i, key in enumerate(keys) if by_key[key].split == "train"]
    targets = l2_normalise(np.stack([np.mean([texts[t] for t in by_key[keys[i]].texts], axis=0) for i in train]))
    bridge = Bridge(feats["features"][train].astype(np.float32), targets.astype(np.float32),
                    np.asarray(["/" not in keys[i] for i in train]))  # drawings' keys are category/name.png
    pictures = {kind: split_pictures(encoder, feats, keys, {i.key for i in items if i.split == "validation"
                                                            and ("/" in i.key) == (kind == "clipart")})
                for kind in ("clipart", "emoji")}
    if not args.recipe:
        sweep(bridge, sets, texts, pictures, args)
        return
    if args.write:
        write(bridge, args.variant, args.recipe)
    report(bridge, sets, texts, pictures, args.recipe, "validation")
    if args.held_out:
        evaluation = held_out(encoder, args.data, args.work)
        report(bridge, *evaluation, args.recipe, "held-out")
        report_near_copies(bridge, *evaluation, args.recipe, args.near_copies)


if __name__ == "__main__":
    main()
