"""kill -9 in the middle of a 2,000-image ingest, then the same command: every item indexed once,
and no chunk that had finished is embedded again."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

N = 2000


def make_pictures(folder: Path, n: int) -> None:
    rng = np.random.default_rng(7)
    folder.mkdir()
    for i in range(n):
        base = rng.integers(0, 255, size=3)
        pixels = np.clip(base + rng.normal(0, 40, size=(48, 48, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:05d}.jpg", quality=80)


def ingest(folder: Path, coll: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "iconodex", "ingest", str(folder), "-c", str(coll), "--json",
               "--set", "chunk_size=50", "--set", "workers=2"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def done_count(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            row = conn.execute("SELECT count(*) FROM items WHERE status IN ('embedded', 'indexed')").fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(row[0])


@pytest.mark.slow
def test_kill_minus_nine_then_resume(tmp_path):
    folder, coll = tmp_path / "pictures", tmp_path / "coll"
    make_pictures(folder, N)
    db = coll / "iconodex.db"

    first = ingest(folder, coll)
    deadline = time.time() + 300
    while done_count(db) < 400 and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert first.poll() is None, "the first run ended before it could be killed"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    finished_before_kill = done_count(db)
    assert 0 < finished_before_kill < N

    second = ingest(folder, coll)
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    report = json.loads(out)
    assert report["embedded"] == N - finished_before_kill  # finished chunks were not re-embedded

    from iconodex import Collection

    with Collection.open(coll, read_only=True) as again:
        stats = again.stats()
        assert stats["indexed"] == N and stats["items"] == N
        for name, space in stats["spaces"].items():
            assert space["indexed"] == N, name
            keys = np.asarray(again.engine._index(name).keys, dtype=np.int64)
            assert len(np.unique(keys)) == N
