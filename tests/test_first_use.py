"""First use: the offline model is prepared once (about 30 s); the user is told what is being
prepared before that work starts, not left in silence."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path


def _first_stderr_lines(args: list[str], env: dict[str, str], seconds: float) -> tuple[list[str], subprocess.Popen]:
    """Stderr lines printed within ``seconds``; the process is left running for the caller to inspect."""
    process = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    while not lines and time.monotonic() < deadline and selector.select(timeout=deadline - time.monotonic()):
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
    return lines, process


def test_first_use_with_an_empty_cache_says_what_is_prepared_before_the_work(tmp_path: Path, sample_pictures):
    cache = tmp_path / "model-cache"
    env = {**os.environ, "ICONODEX_CACHE": str(cache)}
    args = [sys.executable, "-m", "iconodex", "ingest", str(sample_pictures), "-c", str(tmp_path / "coll")]
    lines, process = _first_stderr_lines(args, env, seconds=20)
    try:
        assert lines, "nothing said within 20 s"
        assert lines[0].startswith("preparing the offline model: ")
        assert "ONNX" in lines[0] or "class names" in lines[0]
        assert str(cache) in lines[0]
        assert not list(cache.glob("offline/classnames-*.npy"))  # said before the long work finished
    finally:
        process.kill()
        process.wait()
