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


def test_the_hnsw_benchmark_times_each_index_in_a_pass_of_its_own_beside_faiss(tmp_path):
    """Three or more indexes in one rotation make every walk wait on memory (FAISS itself 1.7× slower
    with three), so each index is timed beside FAISS alone, and its ratio is to FAISS in that pass."""
    done = subprocess.run([sys.executable, "bench_hnsw.py", "--n", "3000", "--queries", "40", "--ef", "32,64",
                           "--indexes", "usearch-f32,engine,faiss", "--threads", "1", "--cache", str(tmp_path),
                           "--no-write"], cwd=ROOT / "benchmarks", capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    passes = [line for line in done.stdout.splitlines() if " ef=" in line and " ms" in line]
    assert len(passes) == 4, done.stdout  # two indexes beside FAISS, at two expansions
    assert all(line.count(" | ") == 1 and "faiss HNSWFlat" in line for line in passes), passes
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "M=16" in line]
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == [
        "usearch f32", "iconodex engine (usearch f32)", "faiss HNSWFlat"], rows
    assert rows[-1].split(" | ")[5] == "1.00×"
    assert (tmp_path / "n3000" / "usearch-f32-M16-ip.usearch").exists()  # the engine's metric (ip for f32)
