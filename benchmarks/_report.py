"""Shared by the benchmark scripts: the machine they ran on, timing summaries, and the
per-section update of docs/benchmarks.md.

Each script owns one section, delimited by ``<!-- section:NAME -->`` … ``<!-- /section:NAME -->``,
and replaces only that section, so several scripts (and people) can share the one page.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import re
import resource
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nEach section is written by the script it names; rerun the command to refresh it.\n"


def machine() -> str:
    """CPU model, cores and RAM, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {ram_gb:.0f} GB RAM, Python {platform.python_version()}"


def command_line() -> str:
    script = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):  # a script outside the repository keeps its full path
        script = script.relative_to(DOC.parents[1])
    return " ".join([".venv/bin/python", str(script), *map(shlex.quote, sys.argv[1:])])


def no_options(doc: str | None) -> argparse.Namespace:
    """The command line of a benchmark that takes no options but ``--no-write`` (and ``--help``,
    which must never run it)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-write", action="store_true")
    return parser.parse_args()


def size_and_rounds(doc: str | None, rounds: int, thresholds: list[int] | None = None) -> argparse.Namespace:
    """The command line of a benchmark over a synthetic collection: ``--n`` items, ``--rounds``
    repetitions, ``--no-write`` to leave docs/benchmarks.md alone, and, where the benchmark tunes
    one, the ``--thresholds`` to compare."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--no-write", action="store_true")
    if thresholds is not None:
        parser.add_argument("--thresholds", type=int, nargs="+", default=thresholds)
    return parser.parse_args()


def percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    values = np.asarray(seconds) * 1000.0
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def publish(name: str, title: str, body: str, *, write: bool, command: str | None = None) -> None:
    """Print a benchmark's report and, unless told not to (``--no-write``), make it section ``name``."""
    print(body, flush=True)
    if write:
        write_section(name, title, body, command)


def write_section(name: str, title: str, body: str, command: str | None = None) -> None:
    """Replace (or append) section ``name`` of docs/benchmarks.md, stamped with machine, date and
    the command that produced it (this script's own command line unless ``command`` is given)."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    stamp = (f"*Machine:* {machine()}; load average when written {load}  \n"
             f"*Date:* {dt.date.today().isoformat()}  \n"
             f"*Command:* `{command or command_line()}`\n")
    block = f"<!-- section:{name} -->\n## {title}\n\n{stamp}\n{body.strip()}\n<!-- /section:{name} -->"
    text = DOC.read_text() if DOC.exists() else HEADER
    pattern = re.compile(rf"<!-- section:{re.escape(name)} -->.*?<!-- /section:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)
    print(f"wrote section {name!r} of {DOC}")
