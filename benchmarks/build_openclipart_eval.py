"""A labelled evaluation set from a real collection that Debian ships: Open Clip Art Library 0.18.

    apt-get install -y openclipart-png openclipart-svg
    .venv/bin/python benchmarks/build_openclipart_eval.py            # → benchmarks/_data/openclipart/

``openclipart-png`` sorts the pictures into category folders; ``openclipart-svg`` has the same files
as SVG, whose RDF metadata carries each picture's title, description and keywords. This script
takes a deterministic sample (``--per-category`` pictures from each of ``CATEGORIES``), copies the
PNGs into ``images/<category>/`` with a JSON sidecar (title, description, keywords, category) that
the folder source reads, and writes two labelled sets for ``iconodex eval``:

* ``queries_title.jsonl`` — each distinct title as a text query, relevant: the picture(s) with it;
  evaluate with ``--alpha 1`` for pure text→picture retrieval (the title is also in the catalogue
  text, so the hybrid default measures how much the catalogue helps);
* ``queries_category.jsonl`` — ``--like-per-category`` pictures per category as "more like this"
  queries, relevant: the other pictures of the same category.

``--split calibration`` takes the *next* ``--per-category`` pictures of each category's ranking instead
(into ``_data/openclipart-calibration/``): the fusion's leg scales are measured there and the offline
projection is selected there, so neither ever sees the evaluation pictures
(benchmarks/train_projection.py trains on the remaining pictures).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "_data" / "openclipart"
CATEGORIES = (  # leaf folders with ≥ 25 pictures that name what is drawn (not icon themes or patterns)
    "animals/birds", "animals/bugs", "animals/mammals", "buildings/homes", "computer/hardware",
    "food/beverages", "food/desserts", "food/fruit", "people/smilies", "people/stickmen",
    "plants/flowers", "recreation/music", "recreation/sports", "recreation/toys", "shapes/arrows",
    "signs_and_symbols/clocks", "signs_and_symbols/flags/europe", "tools/weapons",
    "transportation/boating", "transportation/vehicles",
)
NS = {"dc": "http://purl.org/dc/elements/1.1/", "cc": "http://web.resource.org/cc/",
      "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#"}


def svg_metadata(svg: Path) -> dict[str, object]:
    """Title, description and keywords from the SVG's ``cc:Work`` (empty when unreadable)."""
    try:
        work = ET.parse(svg).getroot().find(".//cc:Work", NS)
    except (ET.ParseError, OSError):
        return {}
    if work is None:
        return {}

    def text(tag: str) -> str:
        node = work.find(tag, NS)  # direct children only: agents' dc:title are names, not titles
        return " ".join((node.text or "").split()) if node is not None else ""

    keywords = [" ".join((li.text or "").split()) for li in work.findall("dc:subject/rdf:Bag/rdf:li", NS)]
    return {"title": text("dc:title"), "description": text("dc:description"),
            "keywords": sorted({k for k in keywords if k and k.lower() != "hash"})}


SPLITS = ("eval", "calibration")  # which block of each category's ranking: the first, or the next one


def sample(folder: Path, count: int, seed: int, skip: int = 0) -> list[Path]:
    """``count`` PNGs of one folder, chosen by a seeded hash of their names (stable across runs),
    after the first ``skip`` of that ranking (the calibration split starts where the eval split ends)."""
    def rank(path: Path) -> str:
        return hashlib.sha256(f"{seed}:{path.name}".encode()).hexdigest()

    return sorted(sorted(folder.glob("*.png"), key=rank)[skip:skip + count])


def build(png_root: Path, svg_root: Path, out: Path, per_category: int, like_per_category: int,
          seed: int, split: str = "eval") -> dict[str, int]:
    images = out / "images"
    if images.exists():
        shutil.rmtree(images)
    by_category: dict[str, list[str]] = {}
    titles: dict[str, list[str]] = {}
    for category in CATEGORIES:
        for png in sample(png_root / category, per_category, seed, SPLITS.index(split) * per_category):
            item_id = f"{category}/{png.name}"
            meta = svg_metadata(svg_root / category / f"{png.stem}.svg")
            target = images / item_id
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(png, target)
            sidecar = {k: v for k, v in {**meta, "category": category}.items() if v}
            target.with_suffix(".json").write_text(json.dumps(sidecar, ensure_ascii=False, indent=1))
            by_category.setdefault(category, []).append(item_id)
            if meta.get("title"):
                titles.setdefault(str(meta["title"]).casefold(), []).append(item_id)
    title_queries = [{"text": _original_title(images, ids[0]), "relevant": ids} for ids in titles.values()]
    like_queries = [{"like": query, "relevant": [i for i in ids if i != query]}
                    for ids in by_category.values() for query in ids[:like_per_category]]
    _write_jsonl(out / "queries_title.jsonl", title_queries)
    _write_jsonl(out / "queries_category.jsonl", like_queries)
    return {"pictures": sum(map(len, by_category.values())), "categories": len(by_category),
            "title queries": len(title_queries), "category queries": len(like_queries)}


def _original_title(images: Path, item_id: str) -> str:
    return json.loads((images / item_id).with_suffix(".json").read_text())["title"]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--png-root", type=Path, default=Path("/usr/share/openclipart/png"))
    parser.add_argument("--svg-root", type=Path, default=Path("/usr/share/openclipart/svg"))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--per-category", type=int, default=25)
    parser.add_argument("--like-per-category", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=SPLITS, default="eval",
                        help="eval: the held-out set; calibration: the next pictures of each category "
                             "(the leg scales and the projection's validation; default out: _data/openclipart-calibration)")
    args = parser.parse_args()
    if args.split != "eval" and args.out == DEFAULT_OUT:
        args.out = DEFAULT_OUT.with_name(f"openclipart-{args.split}")
    if not args.png_root.is_dir() or not args.svg_root.is_dir():
        parser.exit(2, "error: install the pictures first: apt-get install -y openclipart-png openclipart-svg\n")
    counts = build(args.png_root, args.svg_root, args.out, args.per_category, args.like_per_category, args.seed,
                   args.split)
    print(", ".join(f"{value} {name}" for name, value in counts.items()), f"→ {args.out}")


if __name__ == "__main__":
    main()
