#!/usr/bin/env python3
"""Regenerate the sample output in README.md from what the code prints today.

    python scripts/readme_samples.py            # rewrite the README block
    python scripts/readme_samples.py --check    # exit 1 (with a diff) when the README differs (CI)

It runs ``iconodex demo --no-serve`` in a fresh temporary folder (no network; the pictures come with
scikit-image) and puts its standard output, under the command line, between the README's
``<!-- sample:demo -->`` and ``<!-- /sample:demo -->`` markers. Run it with the interpreter whose
iconodex should speak (``PYTHONPATH=src`` for a checkout).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
COMMAND = ("demo", "--no-serve")
BLOCK = re.compile(r"(<!-- sample:demo -->\n)(.*?)(<!-- /sample:demo -->)", re.S)


def demo_output() -> str:
    """What ``iconodex demo --no-serve`` prints, run where its folder is ``demo-collection``."""
    # The demo runs in another folder: a relative PYTHONPATH (``src``) must keep pointing here.
    path = os.pathsep.join(str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": path}
    with tempfile.TemporaryDirectory(prefix="iconodex-readme-") as folder:
        done = subprocess.run([sys.executable, "-m", "iconodex", *COMMAND], cwd=folder, capture_output=True,
                              text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"iconodex demo failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def render(readme: str, output: str) -> str:
    """``readme`` with its sample block replaced by ``output`` under the command line."""
    if not BLOCK.search(readme):
        raise SystemExit("README.md has no <!-- sample:demo --> … <!-- /sample:demo --> block")
    block = f"```\n$ iconodex {' '.join(COMMAND)}\n{output.rstrip()}\n```\n"
    return BLOCK.sub(lambda match: match[1] + block + match[3], readme, count=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when the README differs")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    current = args.readme.read_text(encoding="utf-8")
    wanted = render(current, demo_output())
    if wanted == current:
        print(f"{args.readme}: sample output is up to date")
        return 0
    if args.check:
        diff = difflib.unified_diff(current.splitlines(True), wanted.splitlines(True), str(args.readme), "demo")
        sys.stdout.writelines(diff)
        print(f"{args.readme}: sample output differs from what the code prints; run scripts/readme_samples.py")
        return 1
    args.readme.write_text(wanted, encoding="utf-8")
    print(f"{args.readme}: sample output rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
