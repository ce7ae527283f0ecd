"""The README's sample output is what the code prints: scripts/readme_samples.py runs the demo and
compares, in check mode, as CI does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "readme_samples.py"


def check(readme: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, str(SCRIPT), "--check", "--readme", str(readme)], capture_output=True,
                          text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def drifted(tmp_path_factory) -> tuple[Path, str, subprocess.CompletedProcess]:
    """A copy of the README whose Chelsea score drifted, checked once (one demo run for every test):
    the copy, the README's own Chelsea line, and the check's outcome."""
    readme = tmp_path_factory.mktemp("readme") / "README.md"
    text = (REPO / "README.md").read_text(encoding="utf-8")
    line_start = text.rindex("\n", 0, text.index("chelsea.png", text.index("<!-- sample:demo -->"))) + 1
    original = text[line_start:text.index("\n", line_start)]
    readme.write_text(text[:line_start] + "9.999" + text[line_start + 5:], encoding="utf-8")
    return readme, original, check(readme)


def test_check_mode_fails_when_the_readme_differs_and_never_writes(drifted):
    readme, _, done = drifted
    assert done.returncode == 1, done.stdout + done.stderr
    assert "sample output differs from what the code prints" in done.stdout
    assert "9.999" in readme.read_text()


def test_the_readme_sample_output_is_what_the_demo_prints(drifted):
    _, original, done = drifted
    changed = [line.rstrip("\n") for line in done.stdout.splitlines()
               if line[:1] in "+-" and not line.startswith(("---", "+++"))]
    assert changed == ["-9.999" + original[5:], "+" + original], "README.md differs: run scripts/readme_samples.py"
