"""A multilingual labelled evaluation set: emoji pictures with English catalogue titles, queried by
their CLDR names in 14 languages.

    apt-get install -y fonts-noto-color-emoji
    .venv/bin/pip install emoji
    .venv/bin/python benchmarks/build_emoji_eval.py                 # → benchmarks/_data/emoji/

Pictures: Debian's Noto Color Emoji rendered with Pillow (its bitmap strikes are 109 px, the only size
the colour font draws at) on white. Names: the ``emoji`` package's CLDR short names (en, es, ja, ko,
pt, it, fr, de, fa, id, zh, ru, tr, ar). A deterministic sample of ``--count`` single emoji
(fully-qualified, no skin-tone, flag or keycap sequences) is written as ``images/<codepoints>.png``
with a JSON sidecar whose title is the English name (the catalogue text), and one labelled set per
language, ``queries_<lang>.jsonl``: each name as a text query → that emoji. The English set is the
catalogue's own words; the others measure what the picture and a multilingual text leg add to, or
take from, a catalogue in another language.

``--split calibration`` takes the next ``--count`` emoji of the same order (into
``_data/emoji-calibration/``): the fusion's leg scales are measured there and the offline projection
is selected there; benchmarks/train_projection.py trains on the emoji outside both splits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_OUT = Path(__file__).resolve().parent / "_data" / "emoji"
FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
FONT_SIZE = 109  # the font's only bitmap strike
CANVAS = 136
LANGUAGES = ("en", "es", "ja", "ko", "pt", "it", "fr", "de", "fa", "id", "zh", "ru", "tr", "ar")
FULLY_QUALIFIED = 2  # emoji.STATUS["fully_qualified"]


def readable(name: str) -> str:
    """``":cat_face:"`` → ``"cat face"``."""
    return name.strip(":").replace("_", " ").strip()


SPLITS = ("eval", "calibration")  # which block of the order: the first ``count``, or the next ``count``


def chosen(count: int, skip: int = 0) -> list[tuple[str, dict]]:
    """``count`` single-character emoji with names in every language, in a stable pseudo-random order,
    after the first ``skip`` of that order."""
    import emoji

    emoji.config.load_language(list(LANGUAGES))  # the names in other languages load on demand
    singles = [(char, data) for char, data in emoji.EMOJI_DATA.items()
               if data.get("status") == FULLY_QUALIFIED and len(char.rstrip("\ufe0f")) == 1
               and all(lang in data for lang in LANGUAGES)]
    singles.sort(key=lambda pair: hashlib.sha1(pair[0].encode()).hexdigest())
    return singles[skip:skip + count]


def drawn(char: str) -> Image.Image:
    """One emoji (a sequence too: Pillow's raqm layout joins ZWJ sequences) drawn on white."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), FONT_SIZE)
    canvas = Image.new("RGB", (CANVAS, CANVAS), "white")
    ImageDraw.Draw(canvas).text((CANVAS // 2, CANVAS // 2), char, font=font, embedded_color=True, anchor="mm")
    return canvas


def render(char: str, target: Path) -> None:
    drawn(char).save(target)


def build(out: Path, count: int, split: str = "eval") -> int:
    if not FONT.is_file():
        raise SystemExit(f"{FONT} is missing: apt-get install -y fonts-noto-color-emoji")
    images = out / "images"
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir(parents=True)
    queries: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
    emoji_list = chosen(count, SPLITS.index(split) * count)
    for char, data in emoji_list:
        stem = "-".join(f"{ord(c):x}" for c in char)
        render(char, images / f"{stem}.png")
        (images / f"{stem}.json").write_text(json.dumps({"title": readable(data["en"])}, ensure_ascii=False))
        for lang in LANGUAGES:
            line = {"text": readable(data[lang]), "relevant": [f"{stem}.png"]}
            queries[lang].append(json.dumps(line, ensure_ascii=False))
    for lang, lines in queries.items():
        (out / f"queries_{lang}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(emoji_list)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--count", type=int, default=300, help="how many emoji (default 300)")
    parser.add_argument("--split", choices=SPLITS, default="eval",
                        help="eval: the held-out set; calibration: the next --count emoji of the same order "
                             "(the leg scales and the projection's validation; default out: _data/emoji-calibration)")
    args = parser.parse_args()
    if args.split != "eval" and args.out == DEFAULT_OUT:
        args.out = DEFAULT_OUT.with_name(f"emoji-{args.split}")
    print(f"{build(args.out, args.count, args.split)} emoji, {len(LANGUAGES)} languages → {args.out}")


if __name__ == "__main__":
    main()
