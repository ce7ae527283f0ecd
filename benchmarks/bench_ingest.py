"""Ingest throughput of local 2–4 megapixel JPEGs, three ways, in one run:

* ``Collection.ingest`` of the folder, end to end (harvest, decode, embed pictures and file-name
  titles, store, index) — the thing users run;
* the encoder alone on ready tensors (decoded, resized and normalised before the clock starts):
  ``embed_pixels(batch)`` — the ceiling any pipeline can reach with this model;
* a naive loop, as the seed projects do it: full PIL decode, then ``embed_images([img])`` one
  picture at a time.

Each case runs in its own process, so its peak RSS is its own; ingest runs at two folder sizes
to show whether memory grows with the number of items. Beside them: ingest's own alternatives
(the encoder on one thread, with and without texts, its inference threads pinned to cores and in
fixed blocks as onnxruntime runs them by default, one and two decode threads, small chunks with and
without prefetching the next one, NumPy's BLAS with its own pool of threads), the per-item CPU cost of each stage (the
ceiling on these cores), and JPEG decoders that scale in the DCT (``_decoders.py``) with their
vectors' distance to a full-size decode.

    .venv/bin/python benchmarks/bench_ingest.py --count 240
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import numpy as np
from _report import markdown_table, peak_rss_mb, publish
from PIL import Image, ImageEnhance

from iconodex.config import Settings

DATA = Path(__file__).resolve().parent / "_data" / "ingest-jpegs"
SKIMAGE = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "coins.png",
           "camera.png", "hubble_deep_field.jpg", "immunohistochemistry.png", "page.png")
BATCH = Settings().batch_size  # the encoder case runs the model on the batches ingest gives it
# Ingest, the encoder and the naive loop are each timed as the best of this many rounds in one
# process: the same protocol for the three, each free of passing noise on a shared machine.
ROUNDS = 3


def make_jpegs(count: int) -> list[Path]:
    """``count`` JPEGs of 2–4 megapixels: skimage pictures upscaled, cropped and colour-jittered.
    Generated once and cached (benchmarks/_data is git-ignored)."""
    import skimage

    DATA.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    root = Path(skimage.__file__).parent / "data"
    sources = [Image.open(root / name).convert("RGB") for name in SKIMAGE if (root / name).exists()]
    paths = []
    for i in range(count):
        path = DATA / f"{i:04d}.jpg"
        paths.append(path)
        megapixels = rng.uniform(2.0, 4.0)
        if path.exists():
            continue
        picture = sources[i % len(sources)]
        width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
        big = picture.resize((int(width * 1.15), int(width * 0.75 * 1.15)), Image.Resampling.BILINEAR)
        left, top = rng.integers(0, big.width - width), rng.integers(0, big.height - int(width * 0.75))
        big = big.crop((left, top, left + width, top + int(width * 0.75)))
        big = ImageEnhance.Color(big).enhance(rng.uniform(0.6, 1.4))
        big.save(path, quality=90)
    return paths


# -- the cases, each run in a child process ---------------------------------------------------

def _cpu_seconds() -> float:
    """CPU time of this process so far, every thread's (what the two cores actually spent)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def case_ingest(paths: list[Path], text_template: str | None = None, settings: dict | None = None,
                model_options: dict | None = None) -> dict:
    """The best of ``ROUNDS`` ingests, each into a new collection, of the folder of ``paths``."""
    rounds = [_ingest_once(paths, text_template, settings, model_options) for _ in range(ROUNDS)]
    return {"items": rounds[0]["items"], "failed": rounds[0]["failed"],
            "seconds": min(r["seconds"] for r in rounds), "cpu": min(r["cpu"] for r in rounds)}


def _ingest_once(paths: list[Path], text_template: str | None, settings: dict | None,
                 model_options: dict | None) -> dict:
    from iconodex import Collection
    from iconodex.ingest import embedder

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pictures"
        folder.mkdir()
        for path in paths:
            (folder / path.name).symlink_to(path)
        with Collection.create(Path(tmp) / "coll", text_template=text_template, settings=settings,
                               model_options=model_options) as coll:
            # Warmed up as the encoder and naive cases are: the runtime sizes its buffers for a
            # batch, the text encoder loads its weights; timed work starts below. NumPy's BLAS as
            # ingest will have it, so that no pool started here spins into the timed run.
            with embedder.one_blas_thread():
                coll.model.embed_images([Image.new("RGB", (64, 64))] * coll.settings.batch_size)
                coll.model.embed_texts(["warm-up"], query=False)
            start, cpu = time.perf_counter(), _cpu_seconds()
            report = coll.ingest(str(folder))
            seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    return {"items": report.indexed, "failed": len(report.failed), "seconds": seconds, "cpu": cpu}


def case_encoder(paths: list[Path], threads: int | None = None) -> dict:
    from iconodex.ingest.blas import one_blas_thread
    from iconodex.models import load_model

    model = load_model("offline", threads=threads)
    pictures = [Image.open(path).convert("RGB") for path in paths]
    # Ready tensors: decoded, resized and normalised before the clock starts.
    batches = [model.preprocess(pictures[first:first + BATCH]) for first in range(0, len(pictures), BATCH)]
    best, cpu = float("inf"), float("inf")
    with one_blas_thread():  # as ingest runs the model
        model.embed_pixels(batches[0])  # warm-up at full batch size (the runtime sizes its buffers once)
        for _ in range(ROUNDS):
            start, used = time.perf_counter(), _cpu_seconds()
            for batch in batches:
                model.embed_pixels(batch)
            best, cpu = min(best, time.perf_counter() - start), min(cpu, _cpu_seconds() - used)
    return {"items": len(pictures), "failed": 0, "seconds": best, "cpu": cpu}


def case_encoder_one_thread(paths: list[Path]) -> dict:
    return case_encoder(paths, threads=1)


def case_naive(paths: list[Path], blas_pool: bool = False) -> dict:
    """The naive loop, with NumPy's BLAS on one thread as ingest runs it, or (``blas_pool``) with
    the pool NumPy starts by itself, as a script that never heard of it runs."""
    from iconodex.ingest.blas import one_blas_thread
    from iconodex.models import load_model

    model = load_model("offline")
    best, cpu = float("inf"), float("inf")
    with nullcontext() if blas_pool else one_blas_thread():
        model.embed_images([Image.new("RGB", (64, 64))])  # warm-up
        for _ in range(ROUNDS):
            start, used = time.perf_counter(), _cpu_seconds()
            for path in paths:
                model.embed_images([Image.open(path).convert("RGB")])
            best, cpu = min(best, time.perf_counter() - start), min(cpu, _cpu_seconds() - used)
    return {"items": len(paths), "failed": 0, "seconds": best, "cpu": cpu}


def case_decode(paths: list[Path]) -> dict:
    """What ingest's fetch threads do per picture, in one thread: read, hash, reduced decode, the
    model's resize and crop."""
    from iconodex.fetch.images import ImageFetcher
    from iconodex.models import load_model
    from iconodex.models.base import fetch_side
    from iconodex.records import ImageRef

    model = load_model("offline")
    fetcher = ImageFetcher(None, min_side=fetch_side(model))
    start, cpu = time.perf_counter(), _cpu_seconds()
    for path in paths:
        fetcher.fetch_fitted(ImageRef("path", str(path)), model.fit_image)
    return {"items": len(paths), "failed": 0, "seconds": time.perf_counter() - start, "cpu": _cpu_seconds() - cpu}


def case_text(paths: list[Path]) -> dict:
    """What ingest's text stage does per item: embed its catalogue text (here the file-name title)."""
    from iconodex.models import load_model

    model = load_model("offline")
    titles = [path.stem for path in paths]
    model.embed_texts(titles[:2], query=False)  # warm-up
    start, cpu = time.perf_counter(), _cpu_seconds()
    for first in range(0, len(titles), 64):
        model.embed_texts(titles[first:first + 64], query=False)
    return {"items": len(paths), "failed": 0, "seconds": time.perf_counter() - start, "cpu": _cpu_seconds() - cpu}


def case_ingest_pictures(paths: list[Path]) -> dict:
    """Ingest without catalogue texts, like for like with the naive loop (a template that names
    no existing field gives every item an empty text, which is not embedded)."""
    return case_ingest(paths, text_template=NO_TEXT)


def case_ingest_blas_pool(paths: list[Path]) -> dict:
    """Pictures only, NumPy's BLAS left to its own pool while ingest embeds (before)."""
    from iconodex.ingest import embedder

    embedder.one_blas_thread = nullcontext
    return case_ingest(paths, text_template=NO_TEXT)


def case_small_chunks(paths: list[Path], ahead: int = 1) -> dict:
    """Pictures only, in chunks of 32, reading ``ahead`` chunks beyond the one being embedded."""
    from iconodex.ingest import embedder

    embedder.CHUNKS_AHEAD = ahead
    return case_ingest(paths, text_template=NO_TEXT, settings={"chunk_size": 32})


def case_pinned_threads(paths: list[Path]) -> dict:
    """Pictures only, onnxruntime left to choose its thread count, which pins each of its threads
    to one core (before)."""
    from iconodex.models import effnet_lite

    effnet_lite.intra_op_threads = lambda requested=None: requested or 0
    return case_ingest(paths, text_template=NO_TEXT)


def case_fixed_blocks(paths: list[Path]) -> dict:
    """Pictures only, each layer's work cut into onnxruntime's fixed blocks (before)."""
    from iconodex.models import effnet_lite

    effnet_lite.DYNAMIC_BLOCK_BASE = 0
    return case_ingest(paths, text_template=NO_TEXT)


def case_decoders(paths: list[Path]) -> dict:
    from _decoders import compare

    from iconodex.models import load_model

    return {"rows": compare(paths, load_model("offline"))}


NO_TEXT = "{no-such-field}"
CASES = {"ingest": case_ingest, "ingest-pictures": case_ingest_pictures, "encoder": case_encoder, "naive": case_naive,
         "encoder-one-thread": case_encoder_one_thread,
         "decode": case_decode, "text": case_text, "decoders": case_decoders,
         "small-chunks": case_small_chunks, "small-chunks-no-lookahead": partial(case_small_chunks, ahead=0),
         "ingest-pictures-blas-pool": case_ingest_blas_pool, "naive-blas-pool": partial(case_naive, blas_pool=True),
         "ingest-one-thread": partial(case_ingest, model_options={"threads": 1}),
         "pictures-one-thread": partial(case_ingest, text_template=NO_TEXT, model_options={"threads": 1}),
         "pinned-threads": case_pinned_threads, "fixed-blocks": case_fixed_blocks,
         "ingest-two-workers": partial(case_ingest, text_template=NO_TEXT, settings={"workers": 2}),
         "ingest-one-worker": partial(case_ingest, text_template=NO_TEXT, settings={"workers": 1}),
         "batch-16": partial(case_ingest, text_template=NO_TEXT, settings={"batch_size": 16})}


def run_child(case: str, count: int) -> dict:
    """Run one case in a fresh interpreter; returns its numbers and its peak RSS."""
    output = subprocess.run([sys.executable, __file__, "--child", case, "--count", str(count)],
                            check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


INGEST = "Collection.ingest"
PICTURES_ONLY = "Collection.ingest, pictures only (no catalogue text)"
ENCODER = "encoder on decoded pictures"
ENCODER_ONE_THREAD = "encoder on decoded pictures, one thread"
NAIVE = "naive loop (decode + embed one by one)"
DECODE = "read + decode + resize and crop only (one thread)"
TEXT = "text encoder on titles only"
BATCH_16 = "pictures only, model batches of 16 (before)"
BLAS_POOL = "Collection.ingest, pictures only, NumPy's BLAS pool (before)"
NAIVE_BLAS_POOL = "naive loop, NumPy's BLAS pool (a script's default)"
PICTURES_ONE_THREAD = "pictures only, encoder on one thread"
PINNED = "pictures only, inference threads pinned to cores by onnxruntime (before)"
FIXED_BLOCKS = "pictures only, inference work in fixed blocks (before)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=240, help="JPEGs in the larger ingest")
    parser.add_argument("--encoder-count", type=int, default=None,
                        help="pictures for the encoder and naive cases (default: --count, the same JPEGs as ingest)")
    parser.add_argument("--child", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    paths = make_jpegs(args.count)
    if args.child:
        result = CASES[args.child](paths)
        print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))
        return
    n, small = args.count, args.encoder_count or args.count
    plan = [(INGEST, n // 2, "ingest"), (INGEST, n, "ingest"), (PICTURES_ONLY, n, "ingest-pictures"),
            (BLAS_POOL, n, "ingest-pictures-blas-pool"),
            ("Collection.ingest, encoder on one thread", n, "ingest-one-thread"),
            (PICTURES_ONE_THREAD, n, "pictures-one-thread"),
            (PINNED, n, "pinned-threads"), (FIXED_BLOCKS, n, "fixed-blocks"),
            ("pictures only, two decode threads (not four)", n, "ingest-two-workers"),
            ("pictures only, one decode thread", n, "ingest-one-worker"),
            ("pictures only, chunks of 32, next chunk prefetched (default)", n, "small-chunks"),
            ("pictures only, chunks of 32, one chunk after the other (before)", n, "small-chunks-no-lookahead"),
            (BATCH_16, n, "batch-16"),
            (ENCODER, small, "encoder"), (ENCODER_ONE_THREAD, small, "encoder-one-thread"), (NAIVE, small, "naive"),
            (NAIVE_BLAS_POOL, small, "naive-blas-pool"), (DECODE, n, "decode"), (TEXT, n, "text")]
    runs = [(name, count, run_child(case, count)) for name, count, case in plan]
    decoders = run_child("decoders", n)["rows"]
    rate = {name: r["items"] / r["seconds"] for name, _, r in runs}  # the larger run of a repeated name
    cpu_ms = {name: 1000 * r["cpu"] / r["items"] for name, _, r in runs}
    table = markdown_table(["case", "pictures", "failed", "seconds", "items/s", "CPU ms per item", "peak RSS MB"],
                           [[name, count, r["failed"], f"{r['seconds']:.1f}", f"{r['items'] / r['seconds']:.1f}",
                             f"{1000 * r['cpu'] / r['items']:.1f}", f"{r['peak_rss_mb']:.0f}"] for name, count, r in runs])
    print(table)
    body = "\n\n".join([_intro(paths), table, _ratios(runs, rate), _ceiling(rate, cpu_ms), _decoder_table(decoders, n)])
    publish("ingest", "Ingest throughput (bench_ingest.py)", body, write=not args.no_write)


def _intro(paths: list[Path]) -> str:
    size = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
    from iconodex.models.offline import DEFAULT_VARIANT

    return (f"{len(paths)} JPEGs of 2–4 megapixels (mean file {size:.1f} MB), offline model ({DEFAULT_VARIANT}), default "
            f"settings unless a row says otherwise. The encoder case excludes decoding; the naive loop includes "
            f"it. Each case runs in its own process, warmed up (models loaded and run once), and ingest, the "
            f"encoder and the naive loop each give the best of {ROUNDS} rounds; CPU ms per item is all the process's threads together "
            f"(user + system). On this shared 2-core machine whole runs vary by about ±20 %, so compare the "
            f"ratios within one run.")


def _ratios(runs: list, rate: dict[str, float]) -> str:
    encoder, naive = rate[ENCODER], rate[NAIVE]
    half, full = runs[0][2], runs[1][2]
    lookahead = rate["pictures only, chunks of 32, next chunk prefetched (default)"]
    sequential = rate["pictures only, chunks of 32, one chunk after the other (before)"]
    return (f"Ingest ÷ encoder: **{rate[INGEST] / encoder:.2f}×** (target ≥ 0.6×), pictures only "
            f"**{rate[PICTURES_ONLY] / encoder:.2f}×**; ingest ÷ naive loop: **{rate[INGEST] / naive:.2f}×** "
            f"(target ≥ 4×), like for like without catalogue texts as the naive loop has none: "
            f"**{rate[PICTURES_ONLY] / naive:.2f}×**. Prefetching the next chunk while the current one is "
            f"embedded and committed, chunks of 32: **{lookahead / sequential:.2f}×** the chunk-after-chunk "
            f"rate. {_batches(runs)} {_blas(runs)} {_inference_threads(runs)} Peak RSS at {runs[0][1]} vs {runs[1][1]} pictures: "
            f"{half['peak_rss_mb']:.0f} vs {full['peak_rss_mb']:.0f} MB.")


def _batches(runs: list) -> str:
    """Model batches of the default size against the 16 of before, pictures only."""
    by_name = {name: r for name, _, r in runs}
    now, before = by_name[PICTURES_ONLY], by_name[BATCH_16]
    return (f"Model batches of {BATCH} rather than 16: **{_rate(now) / _rate(before):.2f}×** the rate, "
            f"{1000 * now['cpu'] / now['items']:.1f} against {1000 * before['cpu'] / before['items']:.1f} CPU ms "
            f"per item, {now['peak_rss_mb']:.0f} against {before['peak_rss_mb']:.0f} MB peak RSS.")


def _blas(runs: list) -> str:
    """NumPy's BLAS on one thread while the model runs (ingest's default, and the encoder's and naive
    loop's here) against the pool NumPy starts by itself."""
    by_name = {name: r for name, _, r in runs}
    now, before, naive_pool = by_name[PICTURES_ONLY], by_name[BLAS_POOL], by_name[NAIVE_BLAS_POOL]
    return (f"NumPy's BLAS on one thread while ingest embeds, against its own pool of threads (before), "
            f"pictures only: **{_rate(now) / _rate(before):.2f}×** the rate, {_cpu_ms(now):.1f} against "
            f"{_cpu_ms(before):.1f} CPU ms per item; the encoder and naive rows run the model so too. The naive "
            f"loop with NumPy's pool, as a script gets it by default, costs {_cpu_ms(naive_pool):.1f} CPU ms per "
            f"item ({_rate(naive_pool):.1f} items/s); ingest, pictures only, ÷ that: "
            f"**{_rate(now) / _rate(naive_pool):.2f}×**.")


def _inference_threads(runs: list) -> str:
    """The inference threads as ingest runs them against how onnxruntime runs them by itself, and
    the encoder on one thread, pictures only."""
    by_name = {name: r for name, _, r in runs}
    now, pinned, fixed = by_name[PICTURES_ONLY], by_name[PINNED], by_name[FIXED_BLOCKS]
    one, texts_one = by_name[PICTURES_ONE_THREAD], by_name["Collection.ingest, encoder on one thread"]
    return (f"Inference threads free to run on any core, against pinned one per core as onnxruntime does "
            f"when it picks their number (before), pictures only: **{_rate(now) / _rate(pinned):.2f}×** the rate, "
            f"{_cpu_ms(now):.1f} against {_cpu_ms(pinned):.1f} CPU ms per item; each layer's work in blocks "
            f"that shrink as it runs out, against fixed blocks (before): **{_rate(now) / _rate(fixed):.2f}×**, "
            f"{_cpu_ms(now):.1f} against {_cpu_ms(fixed):.1f}. The encoder on one thread, pictures only: "
            f"{_rate(one):.1f} items/s ({_rate(one) / _rate(now):.2f}× the default); with catalogue texts "
            f"{_rate(texts_one):.1f}, since the thread that runs the one-thread encoder also embeds the texts.")


def _cpu_ms(run: dict) -> float:
    return 1000 * run["cpu"] / run["items"]


def _rate(run: dict) -> float:
    return run["items"] / run["seconds"]


def _ceiling(rate: dict[str, float], cpu_ms: dict[str, float]) -> str:
    cores = os.cpu_count() or 2
    encoder = min(cpu_ms[ENCODER], cpu_ms[ENCODER_ONE_THREAD])  # the cheaper way to run it
    work = cpu_ms[DECODE] + encoder + cpu_ms[TEXT]
    pictures_work = cpu_ms[DECODE] + encoder
    ceiling, pictures_ceiling = 1000 * cores / work, 1000 * cores / pictures_work
    return (f"The ceiling on this machine, in CPU time per item: reading, decoding, resizing and cropping "
            f"{cpu_ms[DECODE]:.1f} ms, the picture encoder {encoder:.1f} ms ({cpu_ms[ENCODER]:.1f} on two threads, "
            f"{cpu_ms[ENCODER_ONE_THREAD]:.1f} on one), the text encoder "
            f"{cpu_ms[TEXT]:.1f} ms (on titles of a few characters). Ingest does all three on the same "
            f"{cores} cores, so it can reach at most {ceiling:.0f} items/s, **{ceiling / rate[ENCODER]:.2f}× "
            f"the encoder alone**, and {pictures_ceiling:.0f} items/s (**{pictures_ceiling / rate[ENCODER]:.2f}×**) "
            f"without texts; it reaches **{rate[INGEST] / ceiling:.0%}** and "
            f"**{rate[PICTURES_ONLY] / pictures_ceiling:.0%}** of those. The decode is libjpeg's Huffman "
            f"decoding of every coefficient (DCT scaling saves only the inverse transform and the pixels), "
            f"so no decoder below gets it much cheaper. "
            f"{_verdict('With catalogue texts', rate[INGEST] / rate[ENCODER], ceiling / rate[ENCODER])} "
            f"{_verdict('Pictures only', rate[PICTURES_ONLY] / rate[ENCODER], pictures_ceiling / rate[ENCODER])} "
            f"{_shortfall(rate, cpu_ms, pictures_work, cores)}")


def _verdict(case: str, reached: float, ceiling: float) -> str:
    if reached >= 0.6:
        return f"{case}, ingest reaches the 0.6× target ({reached:.2f}×)."
    if ceiling < 0.6:
        return (f"{case}, 0.6× of the encoder is out of reach on these cores for a model this light (at most "
                f"{ceiling:.2f}×): the ratio rises with the encoder's cost (CLIP ViT-B/32 needs about 4.4 GFLOPs "
                f"per picture, EfficientNet-Lite0 0.4) and with the number of cores.")
    return f"{case}, the ceiling ({ceiling:.2f}×) allows 0.6×; ingest reaches {reached:.2f}×."


def _shortfall(rate: dict[str, float], cpu_ms: dict[str, float], stages: float, cores: int) -> str:
    """Where pictures-only ingest loses against its ceiling: CPU beyond the stages' own, and idle cores."""
    spent, busy = cpu_ms[PICTURES_ONLY], cpu_ms[PICTURES_ONLY] * rate[PICTURES_ONLY] / 1000
    return (f"What pictures-only ingest loses against its ceiling: it spends {spent:.1f} CPU ms per item "
            f"against the stages' {stages:.1f} (building each batch, SQLite and the index, the threads' "
            f"hand-offs, the encoder on two threads and sharing its cores with the decoders), and keeps "
            f"{busy:.2f} of the {cores} cores busy, the encoder alone {cpu_ms[ENCODER] * rate[ENCODER] / 1000:.2f} "
            f"(its two threads wait for each other at each layer). The decoders fill those waits only while they "
            f"have pictures to decode: they run ahead of the encoder and spend much of the run waiting for room "
            f"in the queue.")


def _decoder_table(rows: list[dict], count: int) -> str:
    spaces = sorted(next(row["gaps"] for row in rows if "gaps" in row))

    def gap(row: dict, space: str) -> str:
        found = row.get("gaps", {}).get(space)
        return f"{found['max']:.1e} / {found['mean']:.1e}" if found else "—"

    table = markdown_table(
        ["decoder (then the model's resize and crop)", "CPU ms per picture",
         *[f"`{space}`: 1 − cos max / mean" for space in spaces]],
        [[row["decoder"], f"{row['cpu_ms']:.2f}" if "cpu_ms" in row else row.get("note", "—"),
          *[gap(row, space) for space in spaces]] for row in rows])
    return (f"Decoders on the same {count} JPEGs, interleaved picture by picture, each to a shorter side of at "
            f"least 256 px (the offline model's resize) and then the model's own resize and crop; the vector "
            f"difference is to a full-size decode and the model's resize (`image`: ConSE over ImageNet "
            f"classes, which a small change of pixels can reorder; `visual`: the pooled features).\n\n{table}")


if __name__ == "__main__":
    main()
