"""``bench_map.py --page N``: a collection of N catalogue records mapped at random clustered points
(the page's cost does not depend on how the points were found), served on loopback and timed in
headless Chromium by tests/browser/map_bench.mjs."""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import uvicorn
from _report import markdown_table

from iconodex import Collection
from iconodex.map import FIELD, write_map
from iconodex.map_atlas import build_atlases
from iconodex.records import SourceRecord
from iconodex.serve import ServeSettings, create_app

BROWSER = Path(__file__).resolve().parents[1] / "tests" / "browser"
CHUNK = 10_000
CLUSTERS = 40


def mapped_collection(path: Path, n: int) -> Collection:
    coll = Collection.create(path)
    run, _ = coll.store.begin_run("synthetic", "synthetic", "synthetic", {})
    for first in range(0, n, CHUNK):
        coll.store.upsert_records([SourceRecord(id=f"item-{i}", image=None, title=f"picture {i}")
                                   for i in range(first, min(first + CHUNK, n))], "synthetic", run)
    keys = np.array(sorted(coll.store.keys_for_ids([f"item-{i}" for i in range(n)]).values()), dtype=np.int64)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLUSTERS, n)
    centres = rng.uniform(0.1 * FIELD, 0.9 * FIELD, (CLUSTERS, 2))
    points = np.clip(centres[labels] + rng.normal(0, FIELD / 40, (n, 2)), 0, FIELD)
    names = {c: (f"cluster {c}", [f"cluster{c}"]) for c in range(CLUSTERS)}
    write_map(coll.store, keys, points, labels, names, [0.0, 0.0, 1.0])
    build_atlases(coll)
    return coll


def time_page(n: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        coll = mapped_collection(Path(tmp) / "coll", n)
        built = time.perf_counter() - started
        server = uvicorn.Server(uvicorn.Config(create_app(coll, ServeSettings()), host="127.0.0.1", port=8767,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            done = subprocess.run(["node", str(BROWSER / "map_bench.mjs"), "http://127.0.0.1:8767"], cwd=BROWSER,
                                  capture_output=True, text=True, timeout=600, check=True)
        finally:
            server.should_exit = True
            thread.join()
            coll.close()
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [[where, seen[where]["mode"], seen[where]["drawn"], seen[where]["frames"], f"{seen[where]['p50']:.1f}",
             f"{seen[where]['p95']:.1f}"] for where in ("far", "close")]
    return (f"{n:,} mapped items (records, points and {seen['drawn']:,} drawn at first frame; atlases of grey "
            f"cells, built in {built:.0f} s with the records). Page load to first frame: "
            f"**{seen['loadMs'] / 1000:.1f} s**. Frame times while panning (the page's own render time, ms):\n\n"
            + markdown_table(["view", "mode", "pictures drawn", "frames", "p50 ms", "p95 ms"], rows))
