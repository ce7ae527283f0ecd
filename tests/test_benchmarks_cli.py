"""Every benchmark answers ``--help`` with its usage and runs nothing: a probe must never rewrite
docs/benchmarks.md (bench_parity.py and bench_fetch_limits.py once did)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(path.name for path in (ROOT / "benchmarks").glob("*.py") if not path.name.startswith("_"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_prints_usage_and_runs_nothing(script):
    report = ROOT / "docs" / "benchmarks.md"
    before = report.read_bytes()
    done = subprocess.run([sys.executable, script, "--help"], cwd=ROOT / "benchmarks", capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith("usage:")
    assert report.read_bytes() == before
