"""Near-duplicate detection: quality of the default thresholds, and speed at 100k items.

    python benchmarks/bench_duplicates.py quality        # precision/recall on a generated test set
    python benchmarks/bench_duplicates.py speed --n 100000

*quality* builds originals (skimage's pictures, plus Debian's openclipart-png when installed)
and edits of each: JPEG q=30, half size, a 5% crop, a 3° rotation, a colour shift, and a
simulated re-photograph (small perspective warp + blur + colour cast). It ingests them with the
offline model and reports, per leg and for the grouping, the precision and recall of
"same original" pairs at several thresholds. *speed* times the grouping legs on synthetic
hashes and vectors (clusters of near-copies among random items): hashing pictures is I/O and
is cached, so it is not part of the timing.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

SKIMAGE = Path(np.__file__).resolve().parents[1] / "skimage" / "data"
CLIPART = Path("/usr/share/openclipart/png")
EDITS = ("jpeg30", "half", "crop5", "rot3", "colour", "rephoto")


def edit(image: Image.Image, kind: str) -> Image.Image:
    w, h = image.size
    if kind == "half":
        return image.resize((w // 2, h // 2), Image.Resampling.LANCZOS)
    if kind == "crop5":
        dx, dy = int(w * 0.025), int(h * 0.025)
        return image.crop((dx, dy, w - dx, h - dy))
    if kind == "rot3":
        return image.rotate(3, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(255, 255, 255))
    if kind == "colour":
        return ImageEnhance.Color(ImageEnhance.Brightness(image).enhance(1.1)).enhance(0.8)
    if kind == "rephoto":
        shift = 0.03 * w
        coeffs = (1 + 0.02, 0.01, -shift / 2, 0.005, 1 - 0.01, 0, 0.00002, 0.00001)
        warped = image.transform((w, h), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC,
                                 fillcolor=(230, 225, 215))
        tinted = Image.blend(warped, Image.new("RGB", (w, h), (255, 230, 200)), 0.12)
        return tinted.filter(ImageFilter.GaussianBlur(1.2))
    return image  # jpeg30: the edit is the encoding


def originals(limit: int) -> list[tuple[str, Image.Image]]:
    paths = sorted(p for p in SKIMAGE.glob("*") if p.suffix in (".png", ".jpg") and "motorcycle" not in p.name)
    if CLIPART.exists():
        paths += sorted(CLIPART.rglob("*.png"))[: max(0, limit - len(paths))]
    found = []
    for path in paths[:limit]:
        try:
            image = Image.open(path)
            image.load()
        except OSError:
            continue
        rgb = image.convert("RGBA")
        flat = Image.new("RGB", rgb.size, (255, 255, 255))
        flat.paste(rgb, mask=rgb.getchannel("A"))
        if min(flat.size) >= 64:
            found.append((path.stem.replace(" ", "_"), flat))
    return found


def build_set(folder: Path, limit: int) -> dict[str, str]:
    """Writes the pictures; returns file name → original it derives from."""
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for stem, image in originals(limit):
        image.save(folder / f"{stem}.png")
        truth[f"{stem}.png"] = stem
        for kind in EDITS:
            name = f"{stem}__{kind}.jpg"
            edit(image, kind).save(folder / name, "JPEG", quality=30 if kind == "jpeg30" else 90)
            truth[name] = stem
    return truth


def quality(limit: int) -> None:
    from iconodex import Collection
    from iconodex.duplicates import (
        HASH_DISTANCE,
        collection_hashes,
        find_duplicates,
        hamming,
        measured_min_score,
    )

    with tempfile.TemporaryDirectory() as tmp:
        truth = build_set(Path(tmp) / "pictures", limit)
        coll = Collection.create(Path(tmp) / "coll")
        coll.ingest(str(Path(tmp) / "pictures"))
        keys, hashes = collection_hashes(coll)
        min_score = measured_min_score(coll)
        items = coll.store.get_many(keys.tolist())
        names = [items[int(k)].id for k in keys]
        vectors = dict(zip(*next(iter(coll.vectors(coll.similar_space, names, batch=len(names)))), strict=True))
        pairs = list(itertools.combinations(range(len(names)), 2))
        same = np.array([truth[names[a]] == truth[names[b]] for a, b in pairs])
        edits = [{_edit(names[a]), _edit(names[b])} for a, b in pairs]
        dist = np.array([hamming(int(hashes[a]), int(hashes[b])) for a, b in pairs])
        cos = np.array([float(vectors[names[a]] @ vectors[names[b]]) for a, b in pairs])
        print(f"{len(truth) // (len(EDITS) + 1)} originals x {len(EDITS)} edits; {same.sum()} duplicate pairs "
              f"among {len(pairs)}")
        for label, score, thresholds in (("pHash Hamming <=", -dist, (6, 8, 10, 12, 14)),
                                         ("visual cosine >=", cos, (0.85, 0.88, 0.9, 0.92, 0.94))):
            for t in thresholds:
                hit = score >= (-t if label.startswith("pHash") else t)
                print(f"  {label} {t}: precision {_ratio(hit & same, hit)}, recall {_ratio(hit & same, same)}")
        for kind in EDITS:
            rows = same & np.array([kind in e for e in edits])
            hit = (dist <= HASH_DISTANCE) | (cos >= min_score)
            print(f"  recall, pairs with {kind:8}: {_ratio(hit & rows, rows)} (hash {_ratio((dist <= HASH_DISTANCE) & rows, rows)},"
                  f" vectors {_ratio((cos >= min_score) & rows, rows)})")
        report = find_duplicates(coll)
        grouped = {(a, b) for group in report.groups for a, b in itertools.combinations(sorted(i["id"] for i in group), 2)}
        truth_pairs = {tuple(sorted((names[a], names[b]))) for (a, b), s in zip(pairs, same, strict=True) if s}
        print(f"groups at defaults (hash <= {HASH_DISTANCE}, cosine >= {min_score}, {coll.model_name}): "
              f"{len(report.groups)}; pair "
              f"precision {_ratio_n(len(grouped & truth_pairs), len(grouped))}, "
              f"recall {_ratio_n(len(grouped & truth_pairs), len(truth_pairs))}")


def _edit(name: str) -> str:
    return name.split("__")[1].split(".")[0] if "__" in name else "original"


def _ratio(hit: np.ndarray, base: np.ndarray) -> str:
    return _ratio_n(int(hit.sum()), int(base.sum()))


def _ratio_n(hit: int, base: int) -> str:
    return f"{hit / base:.3f} ({hit}/{base})" if base else "n/a"


def speed(n: int, dims: int) -> None:
    from iconodex.duplicates import UnionFind, hash_pairs, knn_pairs
    from iconodex.index.usearch_engine import UsearchEngine

    rng = np.random.default_rng(0)
    keys = np.arange(1, n + 1, dtype=np.int64)
    hashes = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64)
    copies = rng.choice(n, size=n // 20, replace=False)  # 5% are near-copies of another item
    flips = np.uint64(1) << rng.integers(0, 64, size=(len(copies), 3)).astype(np.uint64)
    hashes[copies] = hashes[(copies + 1) % n] ^ flips[:, 0] ^ flips[:, 1] ^ flips[:, 2]
    vectors = rng.normal(size=(n, dims)).astype(np.float32)
    vectors[copies] = vectors[(copies + 1) % n] + 0.1 * rng.normal(size=(len(copies), dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    start = time.perf_counter()
    pairs = hash_pairs(keys, hashes)
    hashed = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        engine = UsearchEngine(Path(tmp))
        engine.ensure_space("visual", dims)
        engine.upsert("visual", keys, vectors)
        indexed = time.perf_counter()
        vector_pairs = [knn_pairs(keys[s:s + 4096], *_good(engine.search_many("visual", vectors[s:s + 4096], 17)))
                        for s in range(0, n, 4096)]
    searched = time.perf_counter()
    union = UnionFind()
    for a, b in itertools.chain(pairs, *vector_pairs):
        union.union(int(a), int(b))
    groups = union.groups()
    done = time.perf_counter()
    print(f"n={n}: hash pairs {hashed - start:.2f}s ({len(pairs)} pairs), index build {indexed - hashed:.2f}s "
          f"(done by ingest in practice), vector pairs {searched - indexed:.2f}s, union-find {done - searched:.2f}s; "
          f"{len(groups)} groups (planted: {len(copies)} copies)")


def _good(result: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    found, scores = result
    from iconodex.models.catalog import DEFAULT_DUPLICATE_SCORE

    return found, scores >= DEFAULT_DUPLICATE_SCORE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("quality").add_argument("--limit", type=int, default=40, help="number of originals")
    timing = sub.add_parser("speed")
    timing.add_argument("--n", type=int, default=100_000)
    timing.add_argument("--dims", type=int, default=256)
    args = parser.parse_args()
    quality(args.limit) if args.what == "quality" else speed(args.n, args.dims)


if __name__ == "__main__":
    main()
