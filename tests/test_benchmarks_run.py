"""The server benchmarks run end to end on a tiny collection: they share load_test.py's helpers, and
abuse.py once stopped running when those changed while ``--help`` (test_benchmarks_cli.py) still
answered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script, options", [
    ("load_test.py", ["--mix", "documented", "--no-startup", "--clients", "4"]),
    ("abuse.py", ["--mode", "load", "--good", "4", "--attackers", "2"]),
])
def test_a_server_benchmark_runs_end_to_end_on_a_tiny_collection(tmp_path, script, options):
    report = ROOT / "docs" / "benchmarks.md"
    before = report.read_bytes()
    done = subprocess.run([sys.executable, script, "--items", "300", "--data", str(tmp_path), "--duration", "1",
                           "--no-write", *options], cwd=ROOT / "benchmarks", capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| quiet |" in done.stdout or "| documented: this tree | all |" in done.stdout, done.stdout[-2000:]
    assert report.read_bytes() == before
